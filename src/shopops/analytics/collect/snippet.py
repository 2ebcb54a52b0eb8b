"""The tag an operator pastes into the own web shop's pages (shown on the CollectSite admin page)."""

from __future__ import annotations

from django.conf import settings
from django.utils.html import escape

from shopops.analytics.models import CollectSite

STATIC_PATH = "analytics/collect.js"
STUB = "window.shopops=window.shopops||function(){(shopops.q=shopops.q||[]).push(arguments)};"


def render(site: CollectSite, base_url: str) -> str:
    """Two <script> tags: a stub queueing calls made before the snippet loads, and the async snippet.

    `base_url` is where the back office is reachable from shoppers' browsers (https://ops.example.cn).
    """
    base = base_url.rstrip("/")
    static = "/" + settings.STATIC_URL.strip("/") + "/" + STATIC_PATH
    attributes = [
        f'async src="{escape(base + static)}"',
        f'data-site="{escape(site.key)}"',
        f'data-endpoint="{escape(base)}/collect/batch"',
    ]
    if site.require_consent:
        attributes.append('data-require-consent="true"')
    return f"<script>{STUB}</script>\n<script {' '.join(attributes)}></script>\n"


def usage_examples() -> str:
    """What to call on product, cart, checkout and order pages (for the admin help text)."""
    return (
        "shopops('track', 'product_view', {product: 'A100'});\n"
        "shopops('track', 'add_to_cart', {product: 'A100', sku: 'A100-RED', amount: '99.00'});\n"
        "shopops('track', 'checkout_start', {amount: '198.00'});\n"
        "shopops('track', 'order_placed', {order_id: 'W202611240001', amount: '198.00'});\n"
        "shopops('track', 'payment', {order_id: 'W202611240001', amount: '198.00'});\n"
        "shopops('consent', true);  // 站点要求用户同意时，在用户同意后调用\n"
    )
