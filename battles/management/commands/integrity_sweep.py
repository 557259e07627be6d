from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from battles.services.integrity import integrity_sweep_locked


class Command(BaseCommand):
    help = (
        "Score the votes of the last ARENA_INTEGRITY_LOOKBACK_DAYS days now and leave out the suspicious "
        "ones (and count again those whose signals no longer hold), as beat does every "
        "ARENA_INTEGRITY_SWEEP_SECONDS; e.g. after changing a setting of the sweep."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = integrity_sweep_locked()
        if result is None:
            raise CommandError("another process is sweeping the votes right now; its sweep will do")
        self.stdout.write(
            f"{result.votes_scored} votes of the last {settings.ARENA_INTEGRITY_LOOKBACK_DAYS:g} days scored "
            f"in {result.duration_ms / 1000:.1f} s: {result.votes_flagged} flagged, {result.votes_excluded} "
            f"left out, {result.votes_changed} changed"
        )
        for code, error in sorted(result.failed.items()):
            self.stderr.write(f"the signal {code} failed ({error}): it left no new vote out")
