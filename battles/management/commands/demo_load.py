import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from battles.demo.endpoint import API_KEY_ENV, DEMO_JUDGE, DEMO_MODELS
from battles.models import Contender, Origin
from battles.services.bank import bank_import_paths
from battles.services.contenders import ContenderSettings, contender_save

DEMO_BANK = Path(__file__).resolve().parents[2] / "demo" / "bank.jsonl"


class Command(BaseCommand):
    help = (
        "Load the demo bank (the project's own questions, Chinese and English) and the demo contenders, "
        "which are synthetic models served by `python -m battles.demo.endpoint`. Both are stored with "
        'origin "demo": a real bank imported later takes over a demo question with the same text.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--update-only",
            action="store_true",
            help="only point existing demo contenders at ARENA_DEMO_ENDPOINT_URL (and ARENA_DEMO_API_KEY)",
        )

    def handle(self, *args: Any, update_only: bool, **options: Any) -> None:
        if not update_only:
            for report in bank_import_paths(paths=[DEMO_BANK], origin=Origin.DEMO):
                created, existing = report.questions_created, report.questions_existing
                self.stdout.write(f"demo bank: {created} questions created, {existing} already there")
        endpoint: ContenderSettings = {
            "kind": Contender.Kind.ENDPOINT,
            "origin": Origin.DEMO,
            "base_url": settings.ARENA_DEMO_ENDPOINT_URL,
            # The demo endpoint asks for a key only when this variable is set.
            "api_key_env": API_KEY_ENV if os.environ.get(API_KEY_ENV) else "",
        }
        for model in DEMO_MODELS:
            name = model["display_name"]
            if update_only and not Contender.objects.filter(name=name).exists():
                continue
            fields = endpoint.copy()
            if not update_only:
                fields |= {"model_id": model["model_id"], "description": model["description"]}
            _, created = contender_save(name=name, **fields)
            self.stdout.write(f"demo contender {name}: {'created' if created else 'updated'}")
        self._judge(endpoint, update_only=update_only)

    def _judge(self, endpoint: ContenderSettings, *, update_only: bool) -> None:
        """The demo judge: an endpoint that is never drawn into battles (weight 0), judging every voted
        battle and every ready one, so the judge board and its agreement with the voters show at once."""
        from judges.services.judges import judge_save

        name = DEMO_JUDGE["display_name"]
        if update_only and not Contender.objects.filter(name=name).exists():
            return
        fields = endpoint.copy()
        if not update_only:
            fields |= {
                "model_id": DEMO_JUDGE["model_id"],
                "description": DEMO_JUDGE["description"],
                "sampling_weight": 0.0,
                "stream": False,
            }
        contender, created = contender_save(name=name, **fields)
        if created:
            judge_save(contender=contender, ready_share=1.0, daily_call_budget=20_000)
        self.stdout.write(f"demo judge {name}: {'created' if created else 'updated'}")
