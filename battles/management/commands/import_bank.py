from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from battles.importers.records import ImportRejected
from battles.services.bank import BankImportReport, bank_import_paths


def _counts(report: BankImportReport) -> str:
    return (
        f"questions {report.questions_created} new, {report.questions_existing} existing; "
        f"answers {report.answers_created} new, {report.answers_existing} existing; "
        f"categories {report.categories_created} new; contenders {report.contenders_created} new"
    )


class Command(BaseCommand):
    help = (
        "Import question banks, and answers as offline contenders, from JSONL (.jsonl, .ndjson), CSV and the "
        "seed projects' markdown (.md). A directory stands for its supported files. All or nothing: if any "
        "file is rejected, nothing is written and the error names the file and line."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a bank file or a directory")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="read and check everything and report what would be created, then roll back",
        )
        parser.add_argument(
            "--rename",
            action="append",
            default=[],
            metavar="LABEL=NAME",
            help="import the answers of model LABEL as contender NAME (repeatable), e.g. "
            "--rename Plus-7B=Chinese-Alpaca-Plus-7B",
        )

    def handle(self, *args: Any, paths: list[Path], dry_run: bool, rename: list[str], **options: Any) -> None:
        model_names: dict[str, str] = {}
        for pair in rename:
            label, separator, name = (part.strip() for part in pair.partition("="))
            if not separator or not label or not name:
                raise CommandError(
                    f"--rename {pair!r}: write it as LABEL=NAME, e.g. Plus-7B=Chinese-Alpaca-Plus-7B"
                )
            model_names[label] = name
        try:
            reports = bank_import_paths(paths=paths, dry_run=dry_run, model_names=model_names)
        except ImportRejected as rejection:
            raise CommandError(f"{rejection}\nNothing was imported.") from rejection
        for report in reports:
            self.stdout.write(f"{report.path}: {_counts(report)}")
            for notice in report.notices:
                self.stdout.write(f"  notice: {notice}")
        total = BankImportReport(
            path=Path("total"),
            questions_created=sum(report.questions_created for report in reports),
            questions_existing=sum(report.questions_existing for report in reports),
            categories_created=sum(report.categories_created for report in reports),
            contenders_created=sum(report.contenders_created for report in reports),
            answers_created=sum(report.answers_created for report in reports),
            answers_existing=sum(report.answers_existing for report in reports),
            notices=[],
        )
        self.stdout.write(f"total ({len(reports)} files): {_counts(total)}")
        if dry_run:
            self.stdout.write(
                "dry run: the counts above are what the import would write; nothing was written"
            )
