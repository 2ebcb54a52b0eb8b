"""Settings for shopops, read from the environment with safe embedded defaults."""

import contextlib
import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = Path(os.environ.get("SHOPOPS_HOME", BASE_DIR.parent.parent))
VAR_DIR = Path(os.environ.get("SHOPOPS_VAR_DIR", PROJECT_DIR / "var"))
# var/ holds the database, the Huey queue, the secret key, the cache and private uploads: readable by this
# user only. The umask makes every file a shopops process creates 0600 (SQLite's -wal/-shm copy the
# database's mode), and the chmod closes a var/ an older version created world-readable.
os.umask(0o077)
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
with contextlib.suppress(PermissionError):  # another user's folder: its owner decides
    VAR_DIR.chmod(0o700)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
# The embedded mode generates a local key once; production must set SECRET_KEY.
_secret_file = VAR_DIR / "secret_key"
SECRET_KEY = os.environ.get("SECRET_KEY") or ""
if not SECRET_KEY:
    if not _secret_file.exists():
        import secrets

        _secret_file.touch(mode=0o600)
        _secret_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = _secret_file.read_text().strip()
# Key of the phone-number hashes orders and customers are matched and searched by. Set it separately in
# production: rotating SECRET_KEY must not silently break "search by phone" for every stored order.
PHONE_HASH_KEY = os.environ.get("PHONE_HASH_KEY", "")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 60 * 60 * 12
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 30
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "axes",
    "huey.contrib.djhuey",
    "shopops.core",
    "shopops.channels",
    "shopops.accounts",
    "shopops.catalog",
    "shopops.inventory",
    "shopops.purchasing",
    "shopops.customers",
    "shopops.orders",
    "shopops.fulfillment",
    "shopops.aftersales",
    "shopops.loyalty",
    "shopops.segments",
    "shopops.care",
    "shopops.privacy",
    "shopops.analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "shopops.core.middleware.RequestContextMiddleware",
    "shopops.core.middleware.DatabaseBusyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "shopops.urls"
WSGI_APPLICATION = "shopops.wsgi.application"
ASGI_APPLICATION = "shopops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'shopops.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside one writer; IMMEDIATE takes the write lock at BEGIN so two
    # writers queue on the busy timeout instead of failing on lock upgrade. Imports write in chunks
    # (core.tabular), so a writer waits one chunk, not a file; past the timeout a request answers
    # 503 + Retry-After (core.middleware) instead of hanging.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": float(os.environ.get("SQLITE_BUSY_TIMEOUT", "5")),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_shopops.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Events (spool → day-partitioned Parquet), facts and rollups: see analytics/warehouse.
ANALYTICS_DIR = Path(os.environ.get("SHOPOPS_ANALYTICS_DIR", VAR_DIR / "analytics"))
# Metric conventions where platforms differ (conversion per visitor or session, 客单价 per buyer or order,
# returning-buyer look-back, refund window, ROI basis): see docs/metrics.md. Empty = the defaults there.
ANALYTICS_CONVENTIONS: dict[str, object] = {}
# Collection (docs/analytics-collect.md): the IP hash key (default: derived from SECRET_KEY; set it apart so
# rotating SECRET_KEY keeps distinct-IP counts comparable) and the proxies whose X-Forwarded-For is trusted.
ANALYTICS_IP_HASH_KEY = os.environ.get("ANALYTICS_IP_HASH_KEY", "")
ANALYTICS_TRUSTED_PROXIES = os.environ.get("ANALYTICS_TRUSTED_PROXIES", "")

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

# Failed logins lock the (username, address) pair after AXES_FAILURE_LIMIT, so an attacker cannot lock
# the owner out from everywhere, and an address after AXES_IP_FAILURE_LIMIT over any usernames (password
# spraying), set high enough that an office sharing one IP is not locked by one person's typos
# (accounts.services.LoginLockoutHandler applies the two limits).
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_IP_FAILURE_LIMIT = int(os.environ.get("AXES_IP_FAILURE_LIMIT", "20"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_HANDLER = "shopops.accounts.services.LoginLockoutHandler"
AXES_CLIENT_IP_CALLABLE = "shopops.accounts.services.login_client_ip"
# Proxies whose X-Forwarded-For names the client for the lockout; behind a TLS proxy on this machine
# (BEHIND_TLS_PROXY), every login would otherwise come from 127.0.0.1.
LOGIN_TRUSTED_PROXIES = env_list(
    "LOGIN_TRUSTED_PROXIES", "127.0.0.1,::1" if env_bool("BEHIND_TLS_PROXY", False) else ""
)
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True
CURRENCY = "CNY"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
# uploads for imports and their error reports: never under MEDIA_ROOT, never served (core.storage)
PRIVATE_FILES_ROOT = Path(os.environ.get("SHOPOPS_PRIVATE_DIR", VAR_DIR / "private"))
# Backups (docs/backup.md): where `shopops backup` writes by default, what the daily job keeps (the newest
# archive of each of the last BACKUP_KEEP_DAILY days and of each of the last BACKUP_KEEP_WEEKLY weeks), and
# whether the job encrypts (the passphrase itself comes from SHOPOPS_BACKUP_KEY, never from settings).
BACKUP_DIR = Path(os.environ.get("SHOPOPS_BACKUP_DIR", VAR_DIR / "backups"))
BACKUP_KEEP_DAILY = int(os.environ.get("SHOPOPS_BACKUP_KEEP_DAILY", "7"))
BACKUP_KEEP_WEEKLY = int(os.environ.get("SHOPOPS_BACKUP_KEEP_WEEKLY", "4"))
BACKUP_ENCRYPT = env_bool("SHOPOPS_BACKUP_ENCRYPT", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "shopops",
        "url": REDIS_URL,
        "immediate": False,
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "shopops",
        "filename": str(VAR_DIR / "huey.sqlite3"),
        "immediate": env_bool("HUEY_IMMEDIATE", False),
    }

EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shopops@localhost")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")

# API: per-token (or per-user) request budget; see docs/api.md.
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600/m")
# Searches by phone number (orders, customers) per user, over every token and the session: confirming a
# guessed number takes thousands of tries, an operator needs a few dozen an hour.
PHONE_SEARCH_RATE_LIMIT = os.environ.get("PHONE_SEARCH_RATE_LIMIT", "60/h")
API_MAX_PAGE_SIZE = 500

# XLSX imports: calamine holds a whole sheet in memory, so core.xlsx measures it first and refuses more
# than this (CSV streams any length). A Taobao export has ~50 columns: 10 million cells are 200,000 rows.
IMPORT_XLSX_MAX_COLUMNS = int(os.environ.get("IMPORT_XLSX_MAX_COLUMNS", "500"))
IMPORT_XLSX_MAX_CELLS = int(os.environ.get("IMPORT_XLSX_MAX_CELLS", "10000000"))
IMPORT_XLSX_MAX_MEMORY_MB = int(os.environ.get("IMPORT_XLSX_MAX_MEMORY_MB", "1536"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_pii": {"()": "shopops.core.pii.MaskingLogFilter"},
        "client_errors_without_traceback": {"()": "shopops.core.logs.ClientErrorsWithoutTraceback"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_pii"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # a 403/400 is a normal outcome: one line, no traceback (a 404 never had one)
        "django.request": {"filters": ["client_errors_without_traceback"]},
        "axes": {"level": "WARNING"},
        # Huey's consumer adds its own handler to "huey" unless it has one, and the record then propagated to
        # ours too: every job was logged twice. Ours only, once, masked like every other line.
        "huey": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

UNFOLD = {
    "SITE_TITLE": _("shopops 电商运营"),
    "SITE_HEADER": "shopops",
    "SITE_SYMBOL": "storefront",
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "DASHBOARD_CALLBACK": "shopops.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": "shopops.navigation.sidebar_navigation",
    },
}
