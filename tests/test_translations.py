"""Every string the interface shows has a Chinese translation, and the compiled catalogue is current."""

import re
import shutil
import subprocess
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"


def msgids(po_file: Path) -> set[str]:
    text = po_file.read_text(encoding="utf-8")
    entries = re.findall(r'^msgid ((?:".*"\n)+)', text, flags=re.MULTILINE)
    return {"".join(re.findall(r'"(.*)"', entry)) for entry in entries} - {""}


def test_every_message_is_translated_and_none_is_fuzzy(tmp_path):
    result = subprocess.run(
        [
            "msgfmt",
            "--check",
            "--statistics",
            "-o",
            str(tmp_path / "django.mo"),
            str(CATALOGUE / "django.po"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.fullmatch(r"\d+ translated messages\.\n", result.stderr), result.stderr
    assert (tmp_path / "django.mo").read_bytes() == (CATALOGUE / "django.mo").read_bytes(), (
        "run make messages"
    )


def test_the_catalogue_has_every_string_of_the_code(tmp_path, settings, monkeypatch):
    # makemessages writes to the catalogue nearest the code it reads: run on a copy of the code and the
    # catalogue, so that the checkout's catalogue is left as it is.
    for folder in ("arena", "battles", "ratings", "judges", "dashboard", "locale"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    copy = tmp_path / "locale"
    settings.LOCALE_PATHS = [copy]
    monkeypatch.chdir(tmp_path)
    call_command("makemessages", locale=["zh_Hans"], verbosity=0)
    assert msgids(copy / "zh_Hans" / "LC_MESSAGES" / "django.po") == msgids(CATALOGUE / "django.po"), (
        "strings changed: run make messages and translate the new ones"
    )
