"""The REST API root: /api/v1/… routers, OpenAPI at /api/openapi.json, docs at /api/docs (offline)."""

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template import engines
from ninja import NinjaAPI, Swagger
from ninja.operation import Operation

from shopops.accounts.api import ApiAuth
from shopops.accounts.api import router as accounts_router
from shopops.aftersales.api import router as aftersales_router
from shopops.analytics.api import router as analytics_router
from shopops.care.api import router as care_router
from shopops.catalog.api import router as catalog_router
from shopops.channels.api import router as channels_router
from shopops.core.api import TokenOrUserThrottle, install_error_handlers
from shopops.core.api_routes import router as core_router
from shopops.customers.api import router as customers_router
from shopops.fulfillment.api import router as fulfillment_router
from shopops.inventory.api import router as inventory_router
from shopops.loyalty.api import router as loyalty_router
from shopops.orders.api import router as orders_router
from shopops.privacy.api import router as privacy_router
from shopops.purchasing.api import router as purchasing_router
from shopops.segments.api import router as segments_router

# ninja's own page (templates/ninja/swagger.html) without its favicon include; the assets are the
# files ninja ships in static/ninja/ ("ninja" in INSTALLED_APPS lets staticfiles find them).
SWAGGER_PAGE = """{% load static %}<!DOCTYPE html>
<html>
<head>
<link type="text/css" rel="stylesheet" href="{% static 'ninja/swagger-ui.css' %}">
<link rel="icon" type="image/png" href="{% static 'ninja/favicon.png' %}">
<title>{{ title }}</title>
</head>
<body data-csrf-token="{{ csrf_token }}" data-api-csrf="true">
<script type="application/json" id="swagger-settings">{{ swagger_settings|safe }}</script>
<div id="swagger-ui"></div>
<script src="{% static 'ninja/swagger-ui-bundle.js' %}"></script>
<script src="{% static 'ninja/swagger-ui-init.js' %}"></script>
</body>
</html>
"""


class OfflineSwagger(Swagger):
    """Swagger UI from the files ninja ships, never from a CDN (ninja falls back to one otherwise)."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        template = engines["django"].from_string(SWAGGER_PAGE)
        # "</" cannot end the JSON island early: the settings are ours, but keep the page well-formed
        settings_json = json.dumps(self.settings, indent=1).replace("</", "<\\/")
        context = {"swagger_settings": settings_json, "title": api.title}
        return HttpResponse(template.render(context, request))


class ShopopsAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # handler names are unique across routers: list_products, create_shop, …
        return operation.view_func.__name__


api = ShopopsAPI(
    title="shopops API",
    version="1",
    description="shopops 电商运营管理系统 REST API. Conventions (auth, pagination, ordering, errors): docs/api.md.",
    urls_namespace="api",
    docs=OfflineSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
    auth=ApiAuth(),
    throttle=[TokenOrUserThrottle()],
)
install_error_handlers(api)
api.add_router("/v1/", core_router)
api.add_router("/v1/", accounts_router)
api.add_router("/v1/", channels_router)
api.add_router("/v1/", catalog_router)
api.add_router("/v1/", inventory_router)
api.add_router("/v1/", purchasing_router)
api.add_router("/v1/", customers_router)
api.add_router("/v1/", orders_router)
api.add_router("/v1/", fulfillment_router)
api.add_router("/v1/", aftersales_router)
api.add_router("/v1/", loyalty_router)
api.add_router("/v1/", segments_router)
api.add_router("/v1/", care_router)
api.add_router("/v1/", privacy_router)
api.add_router("/v1/", analytics_router)
