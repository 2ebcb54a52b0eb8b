"""English is complete: every interface string in the code and templates has an English translation.

makemessages runs over a copy of the source (the committed catalog is never rewritten by a test) and
gettext's own msgattrib lists what is untranslated or only fuzzily matched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]


def msgids(po_text: str) -> list[str]:
    entries = re.split(r"\n\n+", po_text)
    found = []
    for entry in entries:
        match = re.search(r'^msgid ((?:".*"\n?)+)', entry, re.MULTILINE)
        if match:
            text = "".join(re.findall(r'"(.*)"', match.group(1)))
            if text:
                found.append(text)
    return found


def test_every_interface_string_has_an_english_translation(tmp_path: Path) -> None:
    # given a copy of the source with the committed English catalog
    copy = tmp_path / "shopops"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("tests", "__pycache__", "static", "*.mo"))
    environment = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    # when the strings are extracted again and merged into it
    subprocess.run(
        [
            Path(sys.executable).with_name("django-admin"),
            "makemessages",
            "-l",
            "en",
            "--no-location",
            "-e",
            "html,txt,py",
        ],
        cwd=copy,
        env=environment,
        check=True,
        capture_output=True,
    )
    catalog = copy / "locale" / "en" / "LC_MESSAGES" / "django.po"
    untranslated = subprocess.run(
        ["msgattrib", "--untranslated", "--no-obsolete", catalog], check=True, capture_output=True, text=True
    ).stdout
    fuzzy = subprocess.run(
        ["msgattrib", "--only-fuzzy", "--no-obsolete", catalog], check=True, capture_output=True, text=True
    ).stdout
    # then nothing is left without English (fuzzy matches are guesses of msgmerge, not translations)
    missing = msgids(untranslated) + msgids(fuzzy)
    assert not missing, f"{len(missing)} strings without English, e.g.: " + " | ".join(missing[:25])
