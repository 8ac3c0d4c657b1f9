"""leadhub settings: one module, configured by environment variables.

Defaults give a local development set-up (SQLite, Celery tasks run eagerly, DEBUG on).
Production sets DATABASE_URL, CELERY_BROKER_URL, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and DEBUG=0.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from leadhub.logging_config import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY when DEBUG is off.")
    # Development only: DEBUG is on, so this key never signs production sessions.
    SECRET_KEY = "leadhub-development-key-not-for-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # trigram search indexes and operations (leadhub.search)
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "leadhub",
    "qualification",
    "handoff",
]

MIDDLEWARE = [
    "leadhub.observability.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "leadhub.security.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "leadhub.middleware.TimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns a sign-in refused for too many failures into the lockout page (429).
    "axes.middleware.AxesMiddleware",
    # Last, so it sees a view's exception first: a database conflict left after retries is a 503.
    "leadhub.db.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "leadhub.urls"
WSGI_APPLICATION = "leadhub.wsgi.application"
ASGI_APPLICATION = "leadhub.asgi.application"

# The lockout check first (django-axes: refuses sign-ins after too many failures), then the
# password check.
AUTHENTICATION_BACKENDS = ["leadhub.auth_backends.LoginLockoutBackend", "leadhub.auth_backends.ModelBackendOneQuery"]

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
                "leadhub.context_processors.navigation",
            ],
        },
    },
    # The queue page and the site's layout parts: SDRs load the queue all day and Django's
    # template language took most of its render time; Jinja2 compiles templates to Python and
    # renders the same rows ~6x faster.
    {
        "NAME": "jinja2",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {"autoescape": True, "environment": "leadhub.jinja2.environment"},
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The reads every page makes (the queue, permissions) run as prepared statements
    # (leadhub/sql.py): each connection plans them once. Django's own queries bind client-side and are never
    # prepared. Set DATABASE_PREPARED_STATEMENTS=0 behind a pooler in transaction mode that
    # cannot carry prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if env_bool("DATABASE_PREPARED_STATEMENTS", True) else None
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend, leaving out the PostgreSQL-only indexes when it rebuilds a table.
    DATABASES["default"]["ENGINE"] = "leadhub.sqlite_backend"
    # Tests use an in-memory database, as with Django's own backend (named, so that test
    # runners that add a per-process suffix to other databases' names leave it alone).
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
    # WAL and a busy timeout let the dev server and eager tasks share the file.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Notifications: the console in development, SMTP in production (EMAIL_HOST etc.).
_email_backend = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {"default": {"BACKEND": _email_backend}}
if _email_backend.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": env_str("EMAIL_HOST_USER") or None,
        "password": env_str("EMAIL_HOST_PASSWORD") or None,
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "timeout": 10,
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "leadhub@localhost")

# Celery: with no broker configured, tasks run eagerly in-process (the default local run).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# A task is acknowledged when it finished, and redelivered if its worker died; every task is
# idempotent (leadhub.tasks.DurableTask). The database records all waiting work (PendingRescore,
# runs, import jobs), and the sweeper below picks up whatever a lost message left behind.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TIMEZONE = TIME_ZONE
# Broker outages: the worker and beat keep trying to reconnect, for ever, at start-up too
# (a process started while Redis is down waits for it instead of exiting).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_CONNECTION_TIMEOUT", 2)
# A web request publishing a task while the broker is down gives up quickly (the work is in
# the database already): a short connect timeout and one quick retry, not Celery's default.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    "retry_on_timeout": True,
    "health_check_interval": 10,
    # A task a killed worker held goes back to the queue after this long (the sweeper usually
    # resumes its work sooner).
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 1800),
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Tasks running when the broker connection drops are cancelled (and redelivered once it is
# back) rather than acknowledged on a connection that no longer exists.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Stalled work: the sweeper resumes rescoring runs and imports with no heartbeat for this long,
# scores leads that waited longer than SWEEP_PENDING_AFTER, and gives a job up after this many
# resumes. /healthz answers 503 when the oldest waiting work is older than HEALTH_BACKLOG_MAX.
LEADHUB_STALLED_AFTER_SECONDS = env_int("LEADHUB_STALLED_AFTER_SECONDS", 90)
LEADHUB_SWEEP_PENDING_AFTER_SECONDS = env_int("LEADHUB_SWEEP_PENDING_AFTER_SECONDS", 60)
LEADHUB_MAX_RESUMES = env_int("LEADHUB_MAX_RESUMES", 5)
LEADHUB_HEALTH_BACKLOG_MAX_SECONDS = env_int("LEADHUB_HEALTH_BACKLOG_MAX_SECONDS", 600)
CELERY_BEAT_SCHEDULE = {
    # Stalled work: resume dead runs and imports, score leads left waiting (leadhub.sweeper;
    # the task keeps its first name).
    "leadhub-sweep": {"task": "leadhub.tasks.sweep", "schedule": crontab(minute="*")},
    # Engagement decays with time: rescore every lead at today's date, nightly.
    "qualification-nightly-decay": {"task": "qualification.tasks.nightly_rescore", "schedule": crontab(hour=2, minute=30)},
    # SLA clock: mark breaches and escalate overdue handoffs (handoff.sla.check_sla).
    "handoff-check-sla": {"task": "handoff.tasks.check_sla", "schedule": crontab(minute="*")},
}
# Task modules outside the apps' tasks.py (autodiscovered): the sweeper is composition root.
CELERY_IMPORTS = ("leadhub.sweeper",)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["leadhub.permissions.ModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "leadhub.api_support.StaffBrowsableNegotiation",
    # JSON bodies only: anything else is a 415 with a sentence, and the schema says so.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "leadhub.api_support.exception_handler",
    # Per token (or signed-in user): 429 with Retry-After. (Calls without credentials are refused
    # with 401 before any work.) The default leaves the ingest budget (5,000 activities/s in
    # batches of 1,000, i.e. five requests a second from one token) far below the limit.
    "DEFAULT_THROTTLE_CLASSES": ["leadhub.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_THROTTLE_RATE", "3000/min")},
    "DEFAULT_SCHEMA_CLASS": "leadhub.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "leadhub API",
    "DESCRIPTION": "Push leads and activities; read stages and scores back.",
    "VERSION": "1.0.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema endpoint describes the API; it is not part of it.
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "leadhub.choices.Stage",
        "GradeEnum": "leadhub.choices.Grade",
        # What a batch item became (activities, outcomes): one enum for both.
        "ReceivedStatusEnum": [("created", "created"), ("known", "known")],
        # The name it had while activity kinds were an enum too (qualification.api's contributions).
        "ContributionKindEnum": ["fit", "engagement"],
    },
}

# Covering indexes serve PostgreSQL's reports; SQLite builds them without the included
# columns (W040), which is all a development database needs. The rollups' unique covering key
# (qualification.ActivityRollup) serves PostgreSQL's ingest and preview; SQLite cannot build
# it (W039, W047) and gets a plain index from a migration instead.
SILENCED_SYSTEM_CHECKS = ["models.W039", "models.W040", "models.W047"]

# --- Security: headers, sign-in lockout, caches ---------------------------------------------
# Content-Security-Policy (Django's own middleware): every script and style sheet is a file
# served from here; no inline <script> or <style> runs. style="" attributes are allowed
# (style-src-attr) for the few computed widths (bars) and Django admin's own widgets; they cannot
# run code.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Pages and downloads with personal data are never kept by browsers or shared caches.
NO_STORE_PATHS = ["/leads/", "/queue/", "/dashboard/", "/feedback/", "/api/", "/admin/"]

# Sign-in lockout (django-axes, kept in the database so every web process sees the same count):
# after AXES_FAILURE_LIMIT failed sign-ins for one account, or from one IP address, further
# attempts are refused for LOGIN_LOCKOUT_MINUTES, on /login/ and /admin/login/ alike, with a
# warning in the log.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind a proxy, the client's address is the last hop the proxy adds.
AXES_IPWARE_PROXY_COUNT = env_int("PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
# Only the sign-in attempts that failed are kept (no row per successful sign-in).
AXES_DISABLE_ACCESS_LOG = True
# The lockout log line names the account and address (operators act on them); passwords never appear.
AXES_SENSITIVE_PARAMETERS = []

# API throttle counts live in the default cache: per process unless CACHE_URL names a shared one
# (redis://…), which production should set so every worker counts together.
if env_str("CACHE_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("CACHE_URL")}}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Behind HTTPS in production; SECURE_COOKIES=0 only for a local run of the production shape.
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # HSTS preload is a one-way commitment for a whole domain; an internal tool opts in only deliberately.
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS += ["security.W021"]

# One line per request and per task (leadhub/observability.py); LOG_FORMAT=json for JSON lines.
SLOW_QUERY_MS = env_int("SLOW_QUERY_MS", 200)
LOGGING = logging_config(
    json=env_str("LOG_FORMAT") == "json", level=env_str("LOG_LEVEL", "INFO"), request_level=env_str("REQUEST_LOG_LEVEL", "INFO")
)

# Leads whose email domain is one of these get no Company (people, not businesses).
FREE_MAIL_DOMAINS = frozenset(
    env_list(
        "LEADHUB_FREE_MAIL_DOMAINS",
        "gmail.com,googlemail.com,yahoo.com,yahoo.co.uk,hotmail.com,outlook.com,live.com,msn.com,"
        "aol.com,icloud.com,me.com,mail.com,gmx.com,gmx.de,web.de,proton.me,protonmail.com,"
        "yandex.com,zoho.com,qq.com,163.com",
    )
)
ACTIVITY_BATCH_LIMIT = 1000
# A lead or company sent with a channel or industry no list entry names (by key, label or
# source value; leadhub.taxonomy): "other" files it under Other (a lead's raw channel is kept in
# its campaign when it has none), "reject" refuses the write with the list of valid entries.
# docs/decisions/edited-lists.md says why "other" is the default.
LEADHUB_UNKNOWN_LIST_VALUES = env_str("LEADHUB_UNKNOWN_LIST_VALUES", "other")
if LEADHUB_UNKNOWN_LIST_VALUES not in ("other", "reject"):
    raise ImproperlyConfigured("LEADHUB_UNKNOWN_LIST_VALUES is “other” or “reject”.")

# CSV imports (leadhub.imports). Uploads are streamed to this directory (a shared volume
# when web and worker run on different hosts) and parsed from disk, never held in memory.
LEADHUB_IMPORT_DIR = env_str("LEADHUB_IMPORT_DIR", str(Path(tempfile.gettempdir()) / "leadhub-imports"))
# Uploads larger than 2.5 MB are streamed to a temporary file here (next to the imports, not in
# the machine's /tmp), deleted when the request ends; the sweeper deletes what a killed web
# process left (leadhub.imports.delete_abandoned_uploads).
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR", str(Path(LEADHUB_IMPORT_DIR) / "incoming"))
try:
    Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only checkout: Django says which directory is missing at the first upload
    pass
# Larger files are refused with a sentence before they reach the disk: split them.
LEADHUB_IMPORT_MAX_BYTES = env_int("LEADHUB_IMPORT_MAX_MB", 100) * 1024 * 1024
