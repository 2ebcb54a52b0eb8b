import json
import os
import subprocess
import sys

# Settings are read once per process from the environment, so production-like settings are checked in a
# fresh interpreter started with the production variables.
PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware
from django.test import RequestFactory

request = RequestFactory().get("/admin/", HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="ops.example.com")
response = SecurityMiddleware(lambda request: HttpResponse("ok"))(request)
print(json.dumps({
    "hsts": response.headers.get("Strict-Transport-Security"),
    "login_trusted_proxies": settings.LOGIN_TRUSTED_PROXIES,
}))
"""


def _production_settings(tmp_path, **environment: str) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shopops.settings",
        "SHOPOPS_VAR_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "ops.example.com",
        "BEHIND_TLS_PROXY": "true",
        "SECURE_COOKIES": "true",
    }
    env.pop("LOGIN_TRUSTED_PROXIES", None)
    env.update(environment)
    finished = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_behind_a_tls_proxy_hsts_covers_subdomains(tmp_path):
    # given the production settings behind a TLS proxy
    # when an HTTPS request is answered
    probe = _production_settings(tmp_path)
    # then HSTS is sent for a month, subdomains included
    assert probe["hsts"] == "max-age=2592000; includeSubDomains"


def test_behind_a_tls_proxy_the_local_proxy_names_the_client_for_the_lockout(tmp_path):
    # given the production settings behind a TLS proxy, without and with an explicit proxy list
    default = _production_settings(tmp_path)
    explicit = _production_settings(tmp_path, LOGIN_TRUSTED_PROXIES="10.0.0.2, 10.0.0.3")
    # then the loopback proxy is trusted by default, and a list replaces it
    assert default["login_trusted_proxies"] == ["127.0.0.1", "::1"]
    assert explicit["login_trusted_proxies"] == ["10.0.0.2", "10.0.0.3"]
