import hashlib
from decimal import Decimal

import pytest
import xlsxwriter
from django.core.management import CommandError, call_command

from shopops.catalog.imports import EXPORT_HEADERS, export_products, import_products
from shopops.catalog.models import Brand, Category, PriceHistory, Product, Sku
from shopops.catalog.tests.factories import create_category, create_policy, create_product, create_sku
from shopops.core.errors import PermissionDeniedError
from shopops.core.models import AuditEntry
from shopops.core.tabular import RowError

pytestmark = pytest.mark.django_db

HEADER = [
    "商品名称",
    "商品编码",
    "商家编码",
    "类目",
    "品牌",
    "规格",
    "售价",
    "成本价",
    "划线价",
    "条码",
    "重量(kg)",
]
ROWS = [
    [
        "真丝连衣裙",
        "P100",
        "P100-BK-M",
        "女装/连衣裙",
        "素语",
        "颜色:黑色;尺码:M",
        "¥299.00",
        "120",
        "399",
        "6901234567890",
        "0.35",
    ],
    [
        "真丝连衣裙",
        "P100",
        "P100-BK-L",
        "女装/连衣裙",
        "素语",
        "颜色：黑色；尺码：L",
        "299元",
        "120",
        "",
        "",
        "0.36",
    ],
    [
        "棉麻衬衫",
        "P200",
        "P200-WH",
        "女装 › 衬衫",
        "",
        "颜色:白色",
        "1,099.50",
        '="500"',
        "无",
        "'6901234567891",
        "",
    ],
]


def write_csv(path, rows, *, header=HEADER, encoding="utf-8"):
    lines = [",".join(header)] + [
        ",".join(f'"{cell}"' if "," in cell else cell for cell in row) for row in rows
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def write_xlsx(path, rows, *, header=HEADER):
    workbook = xlsxwriter.Workbook(
        path, {"strings_to_formulas": False}
    )  # ="500" stays text, as platforms write it
    sheet = workbook.add_worksheet()
    sheet.write_row(0, 0, header)
    for number, row in enumerate(rows, start=1):
        sheet.write_row(number, 0, row)
    workbook.close()
    return path


@pytest.mark.parametrize("kind", ["utf-8", "utf-8-sig", "gb18030", "xlsx"])
def test_import_creates_products_skus_categories_brands_and_price_history(tmp_path, kind):
    # given
    if kind == "xlsx":
        path = write_xlsx(tmp_path / "商品.xlsx", ROWS)
    else:
        path = write_csv(tmp_path / "商品.csv", ROWS, encoding=kind)
    # when
    result = import_products(source=path, actor="cli:test")
    # then
    assert result.errors == []
    assert result.counts() == {"total": 3, "created": 3, "updated": 0, "unchanged": 0, "skipped": 0}
    assert result.committed is True
    assert list(Category.objects.order_by("path").values_list("path", "code")) == [
        ("女装", "C001"),
        ("女装 › 衬衫", "C003"),
        ("女装 › 连衣裙", "C002"),
    ]
    assert list(Brand.objects.values_list("name", "code")) == [("素语", "B001")]
    dress = Product.objects.get(merchant_code="P100")
    assert (dress.name, dress.category.path, dress.brand.name) == ("真丝连衣裙", "女装 › 连衣裙", "素语")
    assert list(dress.skus.values_list("merchant_code", "attributes", "spec", "weight_grams")) == [
        ("P100-BK-L", {"颜色": "黑色", "尺码": "L"}, "颜色:黑色;尺码:L", 360),
        ("P100-BK-M", {"颜色": "黑色", "尺码": "M"}, "颜色:黑色;尺码:M", 350),
    ]
    shirt = Sku.objects.get(merchant_code="P200-WH")
    assert (shirt.sale_price, shirt.cost_price, shirt.list_price, shirt.barcode) == (
        Decimal("1099.50"),
        Decimal("500.00"),
        None,
        "6901234567891",
    )
    assert shirt.product.brand is None
    # 3 SKUs × (sale, cost) + one list price
    assert PriceHistory.objects.filter(source="import", reason="导入", old_value=None).count() == 7
    entry = AuditEntry.objects.get(action="catalog.imported")
    assert entry.changes == {
        "total": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "products_created": 2,
        "filename": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "mode": "all_or_nothing",
    }


def test_bad_rows_are_reported_with_row_column_and_message(tmp_path):
    # given a SKU owning a barcode, and a file with five kinds of mistakes
    create_sku(merchant_code="OLD-1", barcode="6900000000001")
    rows = [
        ["连衣裙", "P1", "A-1", "女装", "", "", "100", "50", "", "", ""],
        ["连衣裙", "P1", "A-1", "女装", "", "", "100", "50", "", "", ""],
        ["连衣裙", "P1", "A-2", "女装", "", "", "-3", "50", "", "", ""],
        ["连衣裙", "P1", "A-3", "女装", "", "", "100", "50", "", "6900000000001", ""],
        ["连衣裙", "P1", "A-4", "女装", "", "", "40", "50", "", "", ""],
        ["衬衫", "P1", "A-5", "女装", "", "", "100", "50", "", "", ""],
        ["", "", "A-6", "", "", "", "100", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    # when
    result = import_products(source=path, actor="cli:test")
    # then
    assert result.errors == [
        RowError(3, "商家编码", "商家编码“A-1”与第 2 行重复"),
        RowError(4, "售价", "不能为负数"),
        RowError(5, "条码", "条码“6900000000001”已被 SKU OLD-1 使用"),
        RowError(6, "售价", "售价 ¥40.00 低于成本价 ¥50.00"),
        RowError(7, "商品名称", "与第 2 行（同一商品）不一致：“衬衫” ≠ “连衣裙”"),
        RowError(8, "商品名称", "新 SKU 须填写商品名称（或商品编码）"),
    ]
    assert result.is_refused is True
    assert result.committed is False


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(tmp_path):
    # given
    path = write_csv(
        tmp_path / "bad.csv", [*ROWS, ["x", "P9", "P9-1", "女装", "", "", "abc", "1", "", "", ""]]
    )
    # when
    result = import_products(source=path, actor="cli:test")
    # then
    assert result.errors == [RowError(5, "售价", "“abc”不是有效金额")]
    assert (
        Sku.objects.count(),
        Product.objects.count(),
        Category.objects.count(),
        Brand.objects.count(),
    ) == (0, 0, 0, 0)
    assert PriceHistory.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_skip_bad_rows_keeps_the_good_rows(tmp_path):
    # given
    path = write_csv(
        tmp_path / "bad.csv", [*ROWS, ["x", "P9", "P9-1", "女装", "", "", "abc", "1", "", "", ""]]
    )
    # when
    result = import_products(source=path, actor="cli:test", mode="skip_bad_rows")
    # then
    assert result.counts() == {"total": 4, "created": 3, "updated": 0, "unchanged": 0, "skipped": 1}
    assert result.committed is True
    assert sorted(Sku.objects.values_list("merchant_code", flat=True)) == [
        "P100-BK-L",
        "P100-BK-M",
        "P200-WH",
    ]


def test_reimporting_the_same_file_changes_nothing(tmp_path):
    # given
    path = write_csv(tmp_path / "a.csv", ROWS)
    import_products(source=path, actor="cli:test")
    counts = (PriceHistory.objects.count(), AuditEntry.objects.count())
    # when
    result = import_products(source=path, actor="cli:test")
    # then
    assert result.counts() == {"total": 3, "created": 0, "updated": 0, "unchanged": 3, "skipped": 0}
    assert (PriceHistory.objects.count(), AuditEntry.objects.count()) == counts


def test_changed_price_writes_price_history_and_one_audit_entry_per_updated_sku(tmp_path, admin_user):
    # given
    import_products(source=write_csv(tmp_path / "a.csv", ROWS), actor="cli:test")
    changed = [row.copy() for row in ROWS]
    changed[0][6] = "259.00"
    # when
    result = import_products(source=write_csv(tmp_path / "b.csv", changed), actor=admin_user)
    # then
    assert result.counts() == {"total": 3, "created": 0, "updated": 1, "unchanged": 2, "skipped": 0}
    sku = Sku.objects.get(merchant_code="P100-BK-M")
    assert sku.sale_price == Decimal("259.00")
    history = PriceHistory.objects.get(sku=sku, old_value__isnull=False)
    assert (history.field, history.old_value, history.new_value, history.source, history.actor) == (
        "sale_price",
        Decimal("299.00"),
        Decimal("259.00"),
        "import",
        admin_user,
    )
    entry = AuditEntry.objects.get(action="sku.updated")
    assert (entry.object_id, entry.changes, entry.actor) == (
        str(sku.pk),
        {"sale_price": ["299.00", "259.00"]},
        admin_user,
    )
    assert AuditEntry.objects.filter(action="catalog.imported").count() == 2


def test_guard_warning_by_policy_is_reported_and_the_row_written(tmp_path):
    # given a default policy asking for 50% margin, warning only
    create_policy(min_margin_percent="50", mode="warn")
    path = write_csv(tmp_path / "a.csv", [["连衣裙", "P1", "A-1", "女装", "", "", "100", "60", "", "", ""]])
    # when
    result = import_products(source=path, actor="cli:test")
    # then
    assert result.warnings == [RowError(2, "售价", "毛利率 40.00% 低于最低毛利率 50.00%")]
    assert result.created == 1


def test_dry_run_previews_and_writes_nothing(tmp_path):
    # given one existing SKU whose price the file changes
    import_products(source=write_csv(tmp_path / "a.csv", ROWS[:1]), actor="cli:test")
    changed = [row.copy() for row in ROWS]
    changed[0][7] = "130"
    before = (Sku.objects.count(), PriceHistory.objects.count(), AuditEntry.objects.count())
    # when
    result = import_products(source=write_csv(tmp_path / "b.csv", changed), actor="cli:test", dry_run=True)
    # then
    assert result.counts() == {"total": 3, "created": 2, "updated": 1, "unchanged": 0, "skipped": 0}
    assert result.committed is False
    assert result.preview[0].changes == {"cost_price": ["120.00", "130.00"]}
    assert (Sku.objects.count(), PriceHistory.objects.count(), AuditEntry.objects.count()) == before
    assert Sku.objects.get().cost_price == Decimal("120.00")


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_then_import_changes_nothing(tmp_path, file_format):
    # given a catalog made outside the importer, with awkward values
    category = create_category(name="T恤/卫衣", parent=create_category(name="男装"))
    product = create_product(name="-卫衣", merchant_code="00123", category=category)
    create_sku(
        product=product,
        merchant_code="00123-01",
        sale_price="89.90",
        cost_price="30",
        barcode="0690000000001",
    )
    create_sku(
        product=product,
        merchant_code="00123-02",
        sale_price="99",
        cost_price="30",
        list_price="199",
        spec="XL 加绒",
    )
    path = tmp_path / f"out.{file_format}"
    # when
    count = export_products(user=None, destination=path, file_format=file_format)
    result = import_products(source=path, actor="cli:test")
    # then
    assert count == 2
    assert result.errors == []
    assert result.counts() == {"total": 2, "created": 0, "updated": 0, "unchanged": 2, "skipped": 0}


def test_export_csv_has_bom_and_the_import_headers(tmp_path):
    # given
    create_sku(merchant_code="S-1")
    path = tmp_path / "out.csv"
    # when
    export_products(user=None, destination=path, file_format="csv")
    # then
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines()[0] == ",".join(EXPORT_HEADERS)


def test_import_needs_price_permission(tmp_path, make_user):
    # given
    path = write_csv(tmp_path / "a.csv", ROWS)
    # when / then
    with pytest.raises(PermissionDeniedError):
        import_products(source=path, actor=make_user("warehouse"))
    assert Sku.objects.count() == 0


def test_cli_imports_and_exports(tmp_path, capsys):
    # given
    path = write_csv(tmp_path / "a.csv", ROWS)
    # when
    call_command("import_data", "products", str(path))
    call_command("export_data", "products", str(tmp_path / "out.xlsx"), "--category", "衬衫")
    # then
    assert Sku.objects.count() == 3
    result = import_products(source=tmp_path / "out.xlsx", actor="cli:test")
    assert result.counts()["unchanged"] == 1


def test_cli_refuses_a_bad_file_with_exit_code_1_and_writes_the_error_list(tmp_path):
    # given
    path = write_csv(tmp_path / "bad.csv", [["x", "P9", "P9-1", "女装", "", "", "abc", "1", "", "", ""]])
    # when
    with pytest.raises(CommandError) as raised:
        call_command("import_data", "products", str(path))
    # then
    assert raised.value.returncode == 1
    assert (tmp_path / "bad.csv.errors.csv").read_text(encoding="utf-8-sig").splitlines() == [
        "类型,行号,列,说明",
        "错误,2,售价,“abc”不是有效金额",
    ]
    assert Sku.objects.count() == 0


def test_cli_refuses_a_file_without_the_key_column(tmp_path):
    # given
    path = write_csv(tmp_path / "bad.csv", [["x"]], header=["商品名称"])
    # when / then
    with pytest.raises(CommandError, match="缺少必需的列：商家编码"):
        call_command("import_data", "products", str(path), "--dry-run")
