import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter
from django.core.management import call_command

from shopops.analytics.imports import IMPORT_KINDS, import_ad_spend, import_traffic_report
from shopops.analytics.models import AdSpend, TrafficReport
from shopops.channels.models import Platform
from shopops.core.errors import NotFound, PermissionDeniedError
from shopops.core.models import AuditEntry
from shopops.core.tabular import ImportRefused
from shopops.orders.tests.factories import create_shop

SYCM_HEADER = [
    "统计日期",
    "商品ID",
    "商品名称",
    "商品访客数",
    "商品浏览量",
    "支付买家数",
    "支付金额",
    "支付转化率",
    "加购人数",
    "支付件数",
    "跳失率",
    "平均停留时长",
]
SYCM_ROWS = [
    [
        "2026-11-20",
        "641234567890",
        "羊毛围巾",
        "1,200",
        "3600",
        "36",
        "¥2,880.00",
        "3.00%",
        "150",
        "40",
        "45.20%",
        "00:01:05",
    ],
    ["2026/11/20", "641234567891", "羊绒帽", "800", "1500", "8", "640", "1.00%", "30", "8", "0.6", "35.5"],
    [
        "2026年11月21日",
        "641234567890",
        "羊毛围巾",
        "1000",
        "2900",
        "30",
        "2400.50",
        "3.00%",
        "",
        "31",
        "50",
        "70秒",
    ],
]


def csv_bytes(header, rows, encoding="gb18030"):
    lines = [",".join(f'"{cell}"' for cell in line) for line in [header, *rows]]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(header, rows):
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("流量")
    day_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, header)
    for number, row in enumerate(rows, start=1):
        for position, value in enumerate(row):
            if isinstance(value, dt.date):
                sheet.write_datetime(number, position, dt.datetime.combine(value, dt.time()), day_format)
            else:
                sheet.write(number, position, value)
    workbook.close()
    return buffer.getvalue()


def stored_traffic(shop):
    return sorted(
        (
            report.day,
            report.product_code,
            report.product_name,
            report.visitors,
            report.page_views,
            report.paying_buyers,
            report.paid_amount,
            report.add_to_cart_buyers,
            report.paid_units,
            report.bounce_rate,
            report.avg_stay_seconds,
        )
        for report in TrafficReport.objects.filter(shop=shop)
    )


EXPECTED_SYCM = [
    (
        dt.date(2026, 11, 20),
        "641234567890",
        "羊毛围巾",
        1200,
        3600,
        36,
        Decimal("2880.00"),
        150,
        40,
        Decimal("0.4520"),
        Decimal("65.00"),
    ),
    (
        dt.date(2026, 11, 20),
        "641234567891",
        "羊绒帽",
        800,
        1500,
        8,
        Decimal("640.00"),
        30,
        8,
        Decimal("0.6000"),
        Decimal("35.50"),
    ),
    (
        dt.date(2026, 11, 21),
        "641234567890",
        "羊毛围巾",
        1000,
        2900,
        30,
        Decimal("2400.50"),
        None,
        31,
        Decimal("0.5000"),
        Decimal("70.00"),
    ),
]


def test_sycm_product_report_in_gb18030_is_imported_with_every_figure(db):
    # given a 生意参谋 product traffic export saved as GB18030 CSV
    shop = create_shop(code="tmall-main")
    # when it is imported by the CLI actor
    result = import_traffic_report(
        source=io.BytesIO(csv_bytes(SYCM_HEADER, SYCM_ROWS)),
        filename="商品流量.csv",
        shop="tmall-main",
        actor="cli:test",
    )
    # then every row is created with the figures of the file
    assert result.encoding == "gb18030"
    assert result.counts() == {"total": 3, "created": 3, "updated": 0, "unchanged": 0, "skipped": 0}
    assert result.unknown_columns == []
    assert stored_traffic(shop) == EXPECTED_SYCM


def test_reimporting_the_same_file_changes_nothing(db):
    # given a traffic report already imported
    shop = create_shop()
    content = csv_bytes(SYCM_HEADER, SYCM_ROWS)
    import_traffic_report(source=io.BytesIO(content), filename="a.csv", shop=shop, actor="cli:test")
    before = {report.pk: report.updated_at for report in TrafficReport.objects.all()}
    audits = AuditEntry.objects.count()
    # when the same file is imported again
    result = import_traffic_report(source=io.BytesIO(content), filename="a.csv", shop=shop, actor="cli:test")
    # then every row is unchanged and nothing was written or audited
    assert result.counts() == {"total": 3, "created": 0, "updated": 0, "unchanged": 3, "skipped": 0}
    assert {report.pk: report.updated_at for report in TrafficReport.objects.all()} == before
    assert AuditEntry.objects.count() == audits
    assert stored_traffic(shop) == EXPECTED_SYCM


def test_a_corrected_export_updates_the_changed_figures_and_audits_them(db):
    # given an imported shop-level report (no product column)
    shop = create_shop()
    header = ["日期", "访客数", "浏览量", "支付买家数", "支付金额"]
    import_traffic_report(
        source=io.BytesIO(csv_bytes(header, [["2026-11-20", "5000", "12000", "90", "9000"]], "utf-8")),
        filename="shop.csv",
        shop=shop,
        actor="cli:test",
    )
    # when a corrected file gives other visitors
    result = import_traffic_report(
        source=io.BytesIO(csv_bytes(header, [["2026-11-20", "5100", "12000", "90", "9000"]], "utf-8")),
        filename="shop.csv",
        shop=shop,
        actor="cli:test",
    )
    # then the one record is updated (whole shop: product_code "") and the change is audited
    assert result.counts()["updated"] == 1
    report = TrafficReport.objects.get(shop=shop)
    assert (report.product_code, report.visitors, report.page_views) == ("", 5100, 12000)
    entry = AuditEntry.objects.filter(action="trafficreport.updated").get()
    assert entry.changes == {"visitors": [5000, 5100]}


def test_jd_and_pdd_headers_are_aliases_and_xlsx_reads(db):
    # given a 京东商智 export as XLSX (成交人数 / 成交金额 / 成交商品件数 / 成交单量)
    shop = create_shop(platform=Platform.JD)
    header = [
        "日期",
        "商品编号",
        "访客数",
        "浏览量",
        "成交人数",
        "成交金额",
        "成交商品件数",
        "成交单量",
        "跳出率",
    ]
    rows = [[dt.date(2026, 11, 20), "100012345678", 300, 900, 12, 1234.5, 15, 13, "40%"]]
    # when it is imported
    result = import_traffic_report(
        source=io.BytesIO(xlsx_bytes(header, rows)), filename="jd.xlsx", shop=shop, actor="cli:test"
    )
    # then the JD names map to the same fields
    assert result.counts()["created"] == 1
    report = TrafficReport.objects.get(shop=shop)
    assert (report.day, report.product_code, report.visitors, report.page_views) == (
        dt.date(2026, 11, 20),
        "100012345678",
        300,
        900,
    )
    assert (report.paying_buyers, report.paid_amount, report.paid_units, report.paid_orders) == (
        12,
        Decimal("1234.50"),
        15,
        13,
    )
    assert report.bounce_rate == Decimal("0.4000")


def test_bad_rows_refuse_the_whole_file_or_are_skipped_with_their_errors(db):
    # given a file with a bad date, a negative count and a repeated day/product
    shop = create_shop()
    rows = [
        ["2026-11-20", "P1", "围巾", "100", "200", "1", "10", "1%", "", "", "", ""],
        ["2026-13-40", "P2", "帽子", "100", "200", "1", "10", "1%", "", "", "", ""],
        ["2026-11-20", "P3", "手套", "-5", "200", "1", "10", "1%", "", "", "", ""],
        ["2026-11-20", "P1", "围巾", "100", "200", "1", "10", "1%", "", "", "", ""],
    ]
    content = csv_bytes(SYCM_HEADER, rows, "utf-8")
    # when imported all-or-nothing
    refused = import_traffic_report(
        source=io.BytesIO(content), filename="bad.csv", shop=shop, actor="cli:test"
    )
    # then nothing is written and each bad row is reported with its row number and column
    assert refused.is_refused
    assert not refused.committed
    assert TrafficReport.objects.count() == 0
    assert [(error.row, error.column) for error in refused.errors] == [
        (3, "统计日期"),
        (4, "商品访客数"),
        (5, "商品ID"),
    ]
    assert "与第 2 行重复" in refused.errors[2].message
    # when imported skipping bad rows
    skipped = import_traffic_report(
        source=io.BytesIO(content), filename="bad.csv", shop=shop, actor="cli:test", mode="skip_bad_rows"
    )
    # then the good row is written
    assert skipped.counts() == {"total": 4, "created": 1, "updated": 0, "unchanged": 0, "skipped": 3}
    assert list(TrafficReport.objects.values_list("product_code", flat=True)) == ["P1"]


def test_dry_run_previews_and_writes_nothing(db):
    shop = create_shop()
    result = import_traffic_report(
        source=io.BytesIO(csv_bytes(SYCM_HEADER, SYCM_ROWS)),
        filename="a.csv",
        shop=shop,
        actor="cli:test",
        dry_run=True,
    )
    assert result.counts()["created"] == 3
    assert not result.committed
    assert [row.key for row in result.preview] == [
        "2026-11-20 641234567890",
        "2026-11-20 641234567891",
        "2026-11-21 641234567890",
    ]
    assert TrafficReport.objects.count() == 0


def test_missing_visitors_column_refuses_the_file(db):
    shop = create_shop()
    with pytest.raises(ImportRefused, match="访客数"):
        import_traffic_report(
            source=io.BytesIO(csv_bytes(["日期", "浏览量"], [["2026-11-20", "1"]], "utf-8")),
            filename="a.csv",
            shop=shop,
            actor="cli:test",
        )


def test_permissions_and_shop_scope_are_enforced(make_user):
    # given a shop the finance role can see but not import into, and a shop outside a marketer's scope
    shop, other = create_shop(), create_shop()
    content = csv_bytes(SYCM_HEADER, SYCM_ROWS)
    # then a user without the import permissions is refused
    with pytest.raises(PermissionDeniedError):
        import_traffic_report(
            source=io.BytesIO(content), filename="a.csv", shop=shop, actor=make_user("finance")
        )
    # and a shop outside the user's scope does not exist for them
    marketer = make_user("promotion", shops=[shop])
    with pytest.raises(NotFound):
        import_traffic_report(source=io.BytesIO(content), filename="a.csv", shop=other.code, actor=marketer)
    assert TrafficReport.objects.count() == 0
    # while their own shop imports
    result = import_traffic_report(
        source=io.BytesIO(content), filename="a.csv", shop=shop.code, actor=marketer
    )
    assert result.committed
    assert result.created == 3


AD_HEADER = ["日期", "计划名称", "消耗", "展现量", "点击量", "总成交笔数", "总成交金额", "投入产出比"]
AD_ROWS = [
    ["2026-11-20", "双11-围巾", "1,000.00", "50000", "1500", "30", "6000.00", "6.00"],
    ["2026-11-20", "拉新-帽子", "300", "20000", "400", "5", "", "0"],
]


def test_ad_spend_without_a_channel_column_takes_the_given_channel_and_reimports_unchanged(db):
    # given a 直通车 campaign report (no 推广渠道 column)
    shop = create_shop()
    content = csv_bytes(AD_HEADER, AD_ROWS)
    # when it is imported naming the channel, twice
    first = import_ad_spend(
        source=io.BytesIO(content), filename="ztc.csv", shop=shop, actor="cli:test", ad_channel="直通车"
    )
    again = import_ad_spend(
        source=io.BytesIO(content), filename="ztc.csv", shop=shop, actor="cli:test", ad_channel="直通车"
    )
    # then two spend records exist with the file's figures, and the second run changed nothing
    assert first.counts()["created"] == 2
    assert again.counts() == {"total": 2, "created": 0, "updated": 0, "unchanged": 2, "skipped": 0}
    assert sorted(
        AdSpend.objects.values_list(
            "day",
            "ad_channel",
            "campaign",
            "spend",
            "impressions",
            "clicks",
            "attributed_orders",
            "attributed_revenue",
        )
    ) == [
        (
            dt.date(2026, 11, 20),
            "直通车",
            "双11-围巾",
            Decimal("1000.00"),
            50000,
            1500,
            30,
            Decimal("6000.00"),
        ),
        (dt.date(2026, 11, 20), "直通车", "拉新-帽子", Decimal("300.00"), 20000, 400, 5, None),
    ]


def test_ad_spend_without_any_channel_is_refused(db):
    shop = create_shop()
    with pytest.raises(ImportRefused, match="推广渠道"):
        import_ad_spend(
            source=io.BytesIO(csv_bytes(AD_HEADER, AD_ROWS)), filename="a.csv", shop=shop, actor="cli:test"
        )


def test_ad_spend_channel_column_per_row(db):
    shop = create_shop()
    header = ["日期", "推广渠道", "推广计划", "花费"]
    rows = [
        ["2026-11-20", "万相台", "A", "10"],
        ["2026-11-20", "直通车", "A", "20"],
        ["2026-11-21", "", "A", "5"],
    ]
    result = import_ad_spend(
        source=io.BytesIO(csv_bytes(header, rows, "utf-8")),
        filename="a.csv",
        shop=shop,
        actor="cli:test",
        mode="skip_bad_rows",
    )
    assert result.counts()["created"] == 2
    assert [(error.row, error.column) for error in result.errors] == [(4, "推广渠道")]


def test_import_kinds_are_offered_to_the_cli(db, tmp_path: Path):
    # given the analytics import kinds
    assert {"traffic-report", "ad-spend"} <= set(IMPORT_KINDS)
    shop = create_shop(code="own-web")
    path = tmp_path / "traffic.csv"
    path.write_bytes(csv_bytes(SYCM_HEADER, SYCM_ROWS))
    # when `shopops import traffic-report FILE --shop CODE` runs
    call_command("import_data", "traffic-report", str(path), "--shop", "own-web", stdout=io.StringIO())
    # then the report is stored
    assert stored_traffic(shop) == EXPECTED_SYCM


ACCESS_LOG = (
    '203.0.113.7 - - [20/Nov/2026:10:15:32 +0800] "GET /products/P1 HTTP/1.1" 200 5120 '
    '"https://www.baidu.com/s?wd=scarf" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"\n'
)


def test_access_log_kind_finds_the_shops_only_site(db, settings, tmp_path: Path):
    # given a shop with one active collection site and an nginx log
    from shopops.analytics.models import CollectSite

    settings.ANALYTICS_DIR = tmp_path / "analytics"
    shop = create_shop(code="own-log", platform=Platform.OWN)
    CollectSite.objects.create(
        shop=shop, name="官网", key="site_log", allowed_origins="https://shop.example.com"
    )
    path = tmp_path / "access.log"
    path.write_text(ACCESS_LOG, encoding="utf-8")
    assert "access-log" in IMPORT_KINDS
    # when `shopops import access-log FILE --shop CODE` runs
    call_command("import_data", "access-log", str(path), "--shop", "own-log", stdout=io.StringIO())
    # then the log's page view is stored as an event of that site's shop
    import pyarrow.parquet as pq

    files = list((tmp_path / "analytics" / "events").rglob("*.parquet"))
    rows = [row for file in files for row in pq.read_table(file).to_pylist()]
    assert [(row["shop_id"], row["path"], row["source"]) for row in rows] == [
        (shop.pk, "/products/P1", "baidu")
    ]


def test_access_log_needs_a_site_when_the_shop_has_several(db):
    from shopops.analytics.imports import access_log_site
    from shopops.analytics.models import CollectSite
    from shopops.core.errors import InvalidInput

    shop = create_shop()
    CollectSite.objects.create(shop=shop, name="A", key="site_a")
    CollectSite.objects.create(shop=shop, name="B", key="site_b")
    with pytest.raises(InvalidInput, match="2 个启用的采集站点"):
        access_log_site(shop=shop.code, actor="cli:test")
    assert access_log_site(site="site_a", actor="cli:test") == "site_a"
