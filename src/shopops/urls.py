"""URL map: admin (back office) at /, API at /api/, first-party event collection at /collect/."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from shopops.api import api
from shopops.core.health import healthz

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("collect/", include("shopops.analytics.collect.urls")),
    path("healthz", healthz, name="healthz"),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]
if settings.DEBUG or settings.MEDIA_URL.startswith("media"):
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
