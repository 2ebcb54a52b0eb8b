"""XLSX files written by hand with zipfile for the import tests (as Excel writes them, and as an attacker
does), and a child process run with its address space capped that reports its memory peak."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import connection

import shopops
from shopops.core.xlsx.base import MIB, column_name

CHILD_ADDRESS_SPACE = 1536 * MIB

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
)
ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PACKAGE}">'
    f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{PACKAGE}">'
    f'<Relationship Id="rId1" Type="{RELATIONSHIPS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{RELATIONSHIPS}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
)


def workbook_xml(sheet_name: str = "Sheet1") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{MAIN}" '
        f'xmlns:r="{RELATIONSHIPS}"><sheets><sheet name="{sheet_name}" sheetId="1" r:id="rId1"/>'
        "</sheets></workbook>"
    )


def text_cell(reference: str, text: str) -> str:
    return f'<c r="{reference}" t="inlineStr"><is><t>{escape(text)}</t></is></c>'


def row_xml(number: int, texts: Sequence[str], *, first_column: int = 1) -> str:
    cells = "".join(
        text_cell(f"{column_name(first_column + position)}{number}", text)
        for position, text in enumerate(texts)
        if text
    )
    return f'<row r="{number}">{cells}</row>'


def sheet_xml(rows: str, *, dimension: str | None = None) -> str:
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}">'
        f"{declared}<sheetData>{rows}</sheetData></worksheet>"
    )


def shared_strings_xml(strings: Sequence[str], *, unique_count: int | None = None) -> str:
    items = "".join(f"<si><t>{escape(text)}</t></si>" for text in strings)
    count = len(strings) if unique_count is None else unique_count
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{MAIN}" '
        f'count="{len(strings)}" uniqueCount="{count}">{items}</sst>'
    )


def workbook_bytes(
    sheet: str | bytes,
    *,
    shared_strings: str | None = None,
    sheet_name: str = "Sheet1",
    extra: dict[str, bytes] | None = None,
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook_xml(sheet_name))
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared_strings is not None:
            archive.writestr("xl/sharedStrings.xml", shared_strings)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def dense_bomb(header: Sequence[str], *, dimension: str | None = "A1:XFD1048576") -> bytes:
    """A good header, one cell at XFD1048576 and (by default) a dimension saying so: about 1.6 KB that
    ask calamine for a value per cell of the whole sheet (16,384 × 1,048,576 × 32 bytes = 512 GiB)."""
    rows = row_xml(1, header) + f'<row r="1048576">{text_cell("XFD1048576", "x")}</row>'
    return workbook_bytes(sheet_xml(rows, dimension=dimension))


def write_wide_file(path: Path, header: Sequence[str], *, rows: int = 400_000, columns: int = 30) -> None:
    """`header`, then `rows` rows of `columns` cells without references (calamine puts each after the
    previous one), all one shared string: 2.3 MB that calamine holds as 12 million cells (1.2 GB).
    Written in pieces, never whole in memory."""
    letters = [column_name(number) for number in range(1, columns + 1)]
    first = "".join(f'<c r="{letter}1" t="s"><v>{index}</v></c>' for index, letter in enumerate(letters))
    cells = f'<c t="s"><v>{len(header)}</v></c>' * columns
    head, tail = sheet_xml("\0").split("\0")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook_xml())
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/sharedStrings.xml", shared_strings_xml([*header, "x"]))
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'{head}<row r="1">{first}</row>'.encode())
            for start in range(2, rows + 2, 10_000):
                numbers = range(start, min(start + 10_000, rows + 2))
                sheet.write("".join(f'<row r="{number}">{cells}</row>' for number in numbers).encode())
            sheet.write(tail.encode())


@dataclass(frozen=True)
class Finished:
    """How a child process ended: its exit code (negative: the signal that killed it), output, memory peak."""

    returncode: int
    stdout: str
    stderr: str
    max_rss_mib: float


def child_environment() -> dict[str, str]:
    """This test's settings for a child process: its database (the test one), private files, code."""
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{database['NAME']}"
    else:
        password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
        host = f"{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}"
        url = f"postgres://{database.get('USER') or 'postgres'}{password}@{host}/{database['NAME']}"
    source = str(Path(shopops.__file__).parent.parent)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shopops.settings",
        "DATABASE_URL": url,
        "SHOPOPS_PRIVATE_DIR": str(settings.PRIVATE_FILES_ROOT),
        "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
    }


# The child's own memory peak is VmHWM of its own address space, read as it exits. ru_maxrss would not do:
# Linux carries the forking parent's peak over exec (a pytest worker late in a run is 700 MiB), so a child
# of a big parent reports the parent's size.
PEAK_MARK = "SHOPOPS_CHILD_VMHWM_KIB="
PEAK_REPORTER = f"""
import atexit, runpy, sys

def report_peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write("\\n{PEAK_MARK}" + line.split()[1] + "\\n")

atexit.register(report_peak)
mode, target, *rest = sys.argv[1:]
if mode == "-c":
    sys.argv = ["-c", *rest]
    exec(compile(target, "<string>", "exec"), {{"__name__": "__main__"}})
else:
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def _own_peak_mib(stderr: str) -> float | None:
    for line in reversed(stderr.splitlines()):
        if line.startswith(PEAK_MARK):
            return int(line.removeprefix(PEAK_MARK)) / 1024
    return None


def run_limited(arguments: Sequence[str], *, address_space: int = CHILD_ADDRESS_SPACE) -> Finished:
    """Run `python -c CODE …` or `python -m MODULE …` with RLIMIT_AS at `address_space` (an allocation
    past it fails: Rust aborts, Python raises MemoryError) and its own memory peak (VmHWM at exit; the
    wait4 ru_maxrss when it died without reporting)."""
    assert arguments[0] in ("-c", "-m"), arguments

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-c", PEAK_REPORTER, *arguments],
            env=child_environment(),
            stdout=out,
            stderr=err,
            preexec_fn=limit,
        )
        deadline = time.monotonic() + 600  # a hung child fails the test instead of hanging the run
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"{arguments} did not end within 10 minutes")
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        own_peak = _own_peak_mib(stderr)
        return Finished(
            returncode=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=stderr,
            max_rss_mib=usage.ru_maxrss / 1024 if own_peak is None else own_peak,
        )
