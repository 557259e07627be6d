import time
from typing import Any

from django.core.management.base import BaseCommand

from battles.services.leaks import answers_leak_scan


class Command(BaseCommand):
    help = (
        "Mark every finished answer that names a model (any contender's alias), then retire open "
        "battles that show one and leave votes on battles that showed one out of the boards (and count "
        "again those whose answer no longer names a model). Runs by itself after aliases change; run it "
        "once after upgrading an arena whose answers were stored before."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        report = answers_leak_scan(
            progress=lambda scanned: self.stderr.write(f"\r{scanned} answers scanned", ending="")
        )
        self.stderr.write("")
        self.stdout.write(
            f"{report.answers_scanned} answers scanned in {time.monotonic() - started:.1f} s: "
            f"{report.answers_marked} newly name a model, {report.answers_cleared} no longer do; "
            f"{report.battles_retired} open battles retired, {report.votes_left_out} votes left out of "
            f"the boards, {report.votes_counted_again} counted again"
        )
