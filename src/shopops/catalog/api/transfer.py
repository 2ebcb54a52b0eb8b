"""Catalog API: product and SKU import from, and export to, CSV or XLSX files."""

import tempfile
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Field, File, Form, Query, Schema
from ninja.files import UploadedFile

from shopops.catalog import imports
from shopops.catalog.api.common import check_cost_criteria, filter_skus, router
from shopops.catalog.models import Sku
from shopops.core.api import ERROR_RESPONSES, ObjectId, PlainText, acting_user, requires
from shopops.core.errors import InvalidInput

MAX_IMPORT_BYTES = 100 * 1024 * 1024
EXPORT_CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class RowErrorOut(Schema):
    row: int = Field(description="Row number as the user sees it (the header is row 1)")
    column: str
    message: str


class RowPreviewOut(Schema):
    row: int
    key: str
    action: str
    changes: dict[str, Any]


class ImportCountsOut(Schema):
    total: int
    created: int
    updated: int
    unchanged: int
    skipped: int


class ImportResultOut(Schema):
    filename: str
    sha256: str
    file_format: str
    encoding: str | None
    mode: str
    dry_run: bool
    committed: bool = Field(
        description="false: nothing was written (dry run, or refused because of bad rows)"
    )
    counts: ImportCountsOut
    errors: list[RowErrorOut]
    warnings: list[RowErrorOut]
    columns: list[str]
    unknown_columns: list[str]
    preview: list[RowPreviewOut]
    duration_seconds: float


@router.post("/catalog/imports", response={200: ImportResultOut, **ERROR_RESPONSES})
@requires("catalog.change_sku")
def import_products(
    request: HttpRequest,
    file: File[UploadedFile],
    mode: Form[Literal["all_or_nothing", "skip_bad_rows"]] = "all_or_nothing",
    dry_run: Form[bool] = False,
) -> dict[str, Any]:
    """Import products and SKUs from a CSV or XLSX file (the export's columns; aliases accepted).

    all_or_nothing: one bad row and nothing is written; skip_bad_rows: good rows are written.
    dry_run: check and preview only. Row problems come back in `errors`; check `committed`.
    Also needs catalog.add_sku and catalog.change_price.
    """
    if file.size is not None and file.size > MAX_IMPORT_BYTES:
        raise InvalidInput("文件过大（上限 100 MB），请拆分后导入", fields={"file": "文件过大"})
    result = imports.import_products(
        source=file, filename=file.name or "upload", actor=acting_user(request), mode=mode, dry_run=dry_run
    )
    return {
        "filename": result.filename,
        "sha256": result.sha256,
        "file_format": result.file_format,
        "encoding": result.encoding,
        "mode": str(result.mode),
        "dry_run": result.dry_run,
        "committed": result.committed,
        "counts": result.counts(),
        "errors": result.errors,
        "warnings": result.warnings,
        "columns": result.columns,
        "unknown_columns": result.unknown_columns,
        "preview": result.preview,
        "duration_seconds": result.duration_seconds,
    }


class ExportFilters(Schema):
    format: Literal["csv", "xlsx"] = "csv"
    search: PlainText | None = Field(
        None, max_length=100, description="Part of the merchant code, barcode or spec"
    )
    product: ObjectId | None = None
    category: ObjectId | None = Field(None, description="Category id; sub-categories included")
    brand: ObjectId | None = None
    is_active: bool | None = None
    below_cost: bool | None = None


@router.get(
    "/catalog/export",
    response={200: None, **ERROR_RESPONSES},
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, one row per SKU, with the import's headers",
                "content": {
                    content_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                    for content_type in EXPORT_CONTENT_TYPES.values()
                },
            }
        }
    },
)
@requires("catalog.view_sku")
def export_products(request: HttpRequest, filters: Query[ExportFilters]) -> HttpResponse:
    """Download SKUs (filtered like the SKU list) as CSV or XLSX; the file re-imports unchanged.
    Without catalog.view_cost the 成本价 column is left out and `below_cost` is refused."""
    check_cost_criteria(request, below_cost=filters.below_cost, ordering=None)
    skus = filter_skus(Sku.objects.all(), filters)
    # spooled: small exports stay in memory, large ones go to a temporary file
    with tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024) as buffer:
        imports.export_products(
            user=acting_user(request), destination=buffer, file_format=filters.format, queryset=skus
        )
        buffer.seek(0)
        content = buffer.read()
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(content, content_type=EXPORT_CONTENT_TYPES[filters.format])
    response["Content-Disposition"] = f'attachment; filename="products-{stamp}.{filters.format}"'
    return response
