"""`make screenshots`: the gallery of the main back-office pages in 简体中文 and English, per role, written to
docs/screenshots/ (JPEG) with docs/screenshots/README.md, so the README shows what a user gets.

It sets up its own demo (a fresh var dir), starts the real `shopops serve`, and drives Debian chromium with
Playwright. Usage: `.venv/bin/python scripts/screenshots.py [--keep-var DIR] [--port 8190]`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# (file name, role, url name or path, open the first record of the list, caption zh, caption en)
PAGES: list[tuple[str, str, str, bool, str, str]] = [
    ("workbench-operations", "operations", "/admin/", False, "工作台（运营）", "Workbench (operations)"),
    (
        "workbench-customer-service",
        "customer_service",
        "/admin/",
        False,
        "工作台（客服）",
        "Workbench (customer service)",
    ),
    ("workbench-warehouse", "warehouse", "/admin/", False, "工作台（仓储）", "Workbench (warehouse)"),
    ("workbench-finance", "finance", "/admin/", False, "工作台（财务）", "Workbench (finance)"),
    ("orders", "operations", "admin:orders_order_changelist", False, "订单列表", "Orders"),
    ("order-workspace", "operations", "admin:orders_order_changelist", True, "订单工作台", "Order workspace"),
    ("order-issues", "operations", "admin:orders_orderissue_changelist", False, "审单异常", "Review issues"),
    ("sku-mapping", "operations", "admin:orders_skumapping_unmatched", False, "商品对应", "SKU mapping"),
    (
        "aftersales",
        "customer_service",
        "admin:aftersales_aftersalecase_changelist",
        False,
        "售后单",
        "After-sales cases",
    ),
    (
        "aftersales-case",
        "customer_service",
        "admin:aftersales_aftersalecase_changelist",
        True,
        "售后单详情",
        "After-sales case",
    ),
    (
        "customer-profile",
        "customer_service",
        "admin:customers_customer_changelist",
        True,
        "客户档案",
        "Customer profile",
    ),
    (
        "merge-suggestions",
        "customer_service",
        "admin:customers_mergesuggestion_changelist",
        False,
        "合并建议",
        "Merge suggestions",
    ),
    ("segment-builder", "promotion", "admin:segments_segment_changelist", True, "人群", "Segment builder"),
    ("care-send", "promotion", "admin:care_send_changelist", True, "发送任务与效果", "Send and its lift"),
    (
        "member-account",
        "operations",
        "admin:loyalty_memberaccount_changelist",
        True,
        "会员积分",
        "Member points",
    ),
    (
        "privacy-requests",
        "customer_service",
        "admin:privacy_personaldatarequest_changelist",
        False,
        "个人信息请求",
        "Personal-data requests",
    ),
    ("stocktake", "warehouse", "admin:inventory_stocktake_changelist", False, "盘点单", "Stocktakes"),
    ("transfers", "warehouse", "admin:inventory_transfer_changelist", False, "调拨单", "Transfers"),
    (
        "replenishment",
        "operations",
        "admin:purchasing_purchaseorder_replenishment",
        False,
        "补货建议",
        "Replenishment",
    ),
    (
        "datacenter",
        "operations",
        "admin:analytics_datacenter_changelist",
        False,
        "数据概览",
        "Data center overview",
    ),
    (
        "datacenter-products",
        "operations",
        "admin:analytics_datacenter_products",
        False,
        "商品分析",
        "Product analysis",
    ),
    (
        "datacenter-customers",
        "operations",
        "admin:analytics_datacenter_customers",
        False,
        "客户分析",
        "Customer analysis",
    ),
]


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer at {url}")


def resolve(env: dict[str, str]) -> dict[str, str]:
    """URL names → paths, resolved by Django with the demo's settings."""
    names = sorted({target for _n, _r, target, _f, _z, _e in PAGES if target.startswith("admin:")})
    code = "import django,sys;django.setup();from django.urls import reverse;print('\\n'.join(reverse(n) for n in sys.argv[1:]))"
    out = subprocess.run(
        [sys.executable, "-c", code, *names], env=env, check=True, cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    return dict(zip(names, out, strict=True))


def shoot(base: str, var: Path, env: dict[str, str]) -> list[tuple[str, str, str]]:
    from playwright.sync_api import sync_playwright

    admin_password = next(
        line.split(":", 1)[1].strip()
        for line in (var / "admin-login.txt").read_text().splitlines()
        if line.startswith("password")
    )
    demo_password = (var / "demo-login.txt").read_text().strip()
    paths = resolve(env)
    OUT.mkdir(parents=True, exist_ok=True)
    shown: list[tuple[str, str, str]] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for language in ("zh-hans", "en"):
            contexts = {}
            for name, role, target, first_record, caption_zh, caption_en in PAGES:
                if role not in contexts:
                    context = browser.new_context(
                        viewport={"width": 1440, "height": 960}, locale="zh-CN", timezone_id="Asia/Shanghai"
                    )
                    context.add_cookies([{"name": "django_language", "value": language, "url": base}])
                    page = context.new_page()
                    page.goto(f"{base}/admin/login/")
                    page.fill("input[name=username]", role if role != "admin" else "admin")
                    page.fill("input[name=password]", admin_password if role == "admin" else demo_password)
                    page.click("button[type=submit], input[type=submit]")
                    page.wait_for_load_state("networkidle")
                    contexts[role] = page
                page = contexts[role]
                page.goto(base + paths.get(target, target))
                if first_record:
                    link = page.locator(
                        "#result_list tbody tr a[href*='/change/'], table tbody tr a[href*='/change/']"
                    )
                    if link.count():
                        link.first.click()
                page.wait_for_load_state("networkidle")
                file = OUT / f"{name}.{'zh' if language == 'zh-hans' else 'en'}.jpg"
                page.screenshot(path=str(file), type="jpeg", quality=72, full_page=False)
                if language == "zh-hans":
                    shown.append((name, caption_zh, caption_en))
            for page in contexts.values():
                page.context.close()
        browser.close()
    return shown


def gallery(shown: list[tuple[str, str, str]]) -> None:
    lines = [
        "# Screenshots / 界面截图",
        "",
        "Written by `make screenshots` (scripts/screenshots.py) from the demo: each page as the role that uses it, "
        "in 简体中文 and English.",
        "",
        "| 页面 / page | 简体中文 | English |",
        "|---|---|---|",
    ]
    for name, caption_zh, caption_en in shown:
        lines.append(
            f"| {caption_zh} / {caption_en} | ![{caption_zh}]({name}.zh.jpg) | ![{caption_en}]({name}.en.jpg) |"
        )
    (OUT / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--keep-var", help="use (and keep) this var dir instead of a temporary one")
    args = parser.parse_args()
    var = Path(args.keep_var) if args.keep_var else Path(tempfile.mkdtemp(prefix="shopops-screens-"))
    env = {
        **os.environ,
        "SHOPOPS_VAR_DIR": str(var),
        "PYTHONPATH": str(ROOT / "src"),
        "DJANGO_SETTINGS_MODULE": "shopops.settings",
    }
    env.pop("DATABASE_URL", None)
    shopops = str(Path(sys.executable).with_name("shopops"))
    run([shopops, "setup"], env)
    server = subprocess.Popen(
        [shopops, "serve", "--port", str(args.port)], env=env, cwd=ROOT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_for(f"{base}/admin/login/")
        shown = shoot(base, var, env)
        gallery(shown)
        sys.stdout.write(f"{len(shown) * 2} screenshots in {OUT}\n")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        if not args.keep_var:
            shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
