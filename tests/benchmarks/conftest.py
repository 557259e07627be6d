import statistics
import time
from collections.abc import Callable


def report(name: str, value: float, unit: str) -> None:
    """One figure, in the form BENCHMARKS.md quotes: BENCH <name> <value> <unit>."""
    # On a line of its own even when pytest has just printed a progress dot.
    print(f"\nBENCH {name} {value:.3f} {unit}", flush=True)


def median_seconds(action: Callable[[], object], *, runs: int = 5) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
