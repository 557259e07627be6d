from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from battles.demo.endpoint import DEMO_MODELS
from battles.models import Contender
from battles.services.bank import bank_import_paths

DEMO_BANK = Path(__file__).resolve().parents[2] / "demo" / "bank.jsonl"


class Command(BaseCommand):
    help = (
        "Load the demo bank (the project's own questions, Chinese and English) and the demo contenders, "
        "which are synthetic models served by `python -m battles.demo.endpoint`."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for report in bank_import_paths(paths=[DEMO_BANK]):
            created, existing = report.questions_created, report.questions_existing
            self.stdout.write(f"demo bank: {created} questions created, {existing} already there")
        for model in DEMO_MODELS:
            _, created = Contender.objects.update_or_create(
                name=model["display_name"],
                defaults={
                    "kind": Contender.Kind.ENDPOINT,
                    "base_url": settings.ARENA_DEMO_ENDPOINT_URL,
                    "model_id": model["model_id"],
                    "description": model["description"],
                },
            )
            self.stdout.write(
                f"demo contender {model['display_name']}: {'created' if created else 'updated'}"
            )
