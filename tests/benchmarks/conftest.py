import statistics
import time
from collections.abc import Callable


def report(name: str, value: float, unit: str) -> None:
    """One figure, in the form BENCHMARKS.md quotes: BENCH <name> <value> <unit>."""
    print(f"BENCH {name} {value:.3f} {unit}", flush=True)


def median_seconds(action: Callable[[], object], *, runs: int = 5) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
