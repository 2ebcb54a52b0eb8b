"""The `shopops` console command: a thin wrapper over Django's management commands."""

from __future__ import annotations

import os
import sys

ALIASES = {
    "import": "import_data",
    "export": "export_data",
    "restore-drill": "restore_drill",
}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
    from django.core.management import execute_from_command_line

    args = list(sys.argv if argv is None else argv)
    if len(args) > 1:
        args[1] = ALIASES.get(args[1], args[1])
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
