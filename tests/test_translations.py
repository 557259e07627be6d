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
    copy = tmp_path / "locale"
    shutil.copytree(ROOT / "locale", copy)
    settings.LOCALE_PATHS = [copy]
    monkeypatch.chdir(ROOT)
    call_command(
        "makemessages", locale=["zh_Hans"], ignore_patterns=[".venv/*", "var/*", "tests/*"], verbosity=0
    )
    assert msgids(copy / "zh_Hans" / "LC_MESSAGES" / "django.po") == msgids(CATALOGUE / "django.po"), (
        "strings changed: run make messages and translate the new ones"
    )
