"""WSGI entry point (granian or gunicorn in production)."""

import os

from django.core.wsgi import get_wsgi_application
from django.template.loader import get_template
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopops.settings")
application = get_wsgi_application()

# Warm what the first request would otherwise pay for (about 5 s after a start): the URLconf (every API router
# and its schemas, the admin) and the back office's first pages, in the worker before it accepts connections.
get_resolver().url_patterns  # noqa: B018 (evaluated for its import)
for template in ("admin/login.html", "admin/index.html"):
    get_template(template)
