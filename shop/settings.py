"""
Settings for the shop, read from the environment (12-factor).

The defaults are production's: DEBUG is off unless DEBUG=1, and with DEBUG off
SECRET_KEY must be set. Development opts in with DEBUG=1 (`make run` does): without a
SECRET_KEY it then uses a random key made once and kept in var/ (git-ignored).
Other values default to a laptop's: SQLite in var/, Redis on 127.0.0.1:6379.
Production sets SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL; `manage.py check
--deploy` is then clean. Every variable is listed in docs/deploy.md.
"""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
import dj_email_url  # type: ignore[import-untyped]  # ships no type hints

from shop.metrics.multiproc import multiproc_dir_prepare
from shop.secret_key import read_or_create

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # local state of a first run: SQLite file, pid files, logs
VAR_DIR.mkdir(exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# --- Core ----------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env_bool("DEBUG", False)  # production unless told otherwise
# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise RuntimeError("SECRET_KEY must be set when DEBUG is off (for development set DEBUG=1)")
    # Development: a random key made on first use and kept, so sessions survive restarts.
    SECRET_KEY = read_or_create(VAR_DIR / "dev-secret-key")
# https://docs.djangoproject.com/en/5.2/ref/settings/#allowed-hosts
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",  # revocable, expiring API tokens (shop/accounts/)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shop.apps.ShopConfig",
    "inventory.apps.InventoryConfig",
    "orders.apps.OrdersConfig",
    "payments.apps.PaymentsConfig",
]

MIDDLEWARE = [
    # First and last: the latency django-prometheus measures spans every other middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "shop.log_context.LogContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

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
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/ref/settings/#databases
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'shop.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of
    # failing half-way with "database is locked"; WAL lets readers run meanwhile.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so that worker subprocesses in flow tests share it.
    sqlite_file = Path(DATABASES["default"]["NAME"]).name
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_{sqlite_file}")}
# A process serving many threads (the gateway worker's thread pool) shares a small
# pool of PostgreSQL connections instead of pinning one per thread.
# https://docs.djangoproject.com/en/5.2/ref/databases/#connection-pool
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE:
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and cache -------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")  # the Celery broker


def redis_url_with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def neighbour_redis_db(url: str) -> int:
    """The database next to the URL's (0 ↔ 1, 14 ↔ 15): another key space on the same server."""
    db = int(urlsplit(url).path.lstrip("/") or 0)
    return db ^ 1


# The cache lives in a Redis database of its own: django-redis' cache.clear() is FLUSHDB,
# which on the broker's database would wipe the queues and the unacked messages.
CACHE_REDIS_URL = os.environ.get("CACHE_REDIS_URL") or redis_url_with_db(REDIS_URL, neighbour_redis_db(REDIS_URL))
if urlsplit(CACHE_REDIS_URL)[:3] == urlsplit(REDIS_URL)[:3]:
    raise RuntimeError("CACHE_REDIS_URL must not be the broker's Redis database (REDIS_URL)")
# Baskets (orders/services/basket.py) are customer data, not cache: they live in the broker's
# database by default (never FLUSHDB'd by cache.clear(), and the Redis a production stack
# persists), under keys of their own, read through django-redis' connection of this alias.
BASKET_REDIS_URL = os.environ.get("BASKET_REDIS_URL") or REDIS_URL
if urlsplit(BASKET_REDIS_URL)[:3] == urlsplit(CACHE_REDIS_URL)[:3]:
    raise RuntimeError("BASKET_REDIS_URL must not be the cache's Redis database (cache.clear() empties it)")
# https://github.com/jazzband/django-redis#configure-as-cache-backend
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        # The cache only holds throttle counters and dashboards: Redis being down
        # must not turn into a 500 on a page that does not need it.
        "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    },
    # Never used as a cache (no cache.get/set/clear on it): only get_redis_connection("baskets").
    # Errors are not ignored: a basket call without Redis answers 503.
    "baskets": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": BASKET_REDIS_URL,
        "KEY_PREFIX": "basket",
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    },
}

# --- Celery: at-least-once delivery ----------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # ack after the task ran, so a crash redelivers it
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a killed child requeues its message
# Messages a worker reserves per pool slot, unacked (acks_late): 1 keeps a slow host from
# hoarding them; more fills the gap between a task's ack and the next fetch for short tasks.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# When the broker connection drops, a running task cannot be acked any more: Celery cancels
# it, and the message comes back from Redis's unacked hash (the inbox drops repeats) instead
# of finishing into an ack that goes nowhere.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Unacked messages of a dead worker come back after the visibility timeout;
# every time limit stays below it so a slow task is never run twice meanwhile.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
}
CELERY_TASK_TIME_LIMIT = min(120, CELERY_VISIBILITY_TIMEOUT // 2)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 10
CELERY_TASK_DEFAULT_QUEUE = "events"  # DB-bound handlers
# Gateway calls are I/O-bound: their own queue, served by a thread pool.
# Mail is I/O-bound too: the `mail` queue, served by the gateway worker's thread pool, so a
# slow mail server holds no `events` slot.
CELERY_TASK_ROUTES = {
    "payments.tasks.payment_settle_task": {"queue": "gateway"},
    "orders.tasks.mail_send_task": {"queue": "mail"},
    "orders.tasks.mails_send_due_task": {"queue": "mail"},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# beat's record of when each periodic task last ran (losing it only runs them once more).
CELERY_BEAT_SCHEDULE_FILENAME = os.environ.get("CELERY_BEAT_SCHEDULE_FILENAME") or str(VAR_DIR / "celerybeat-schedule")

# --- The event bus ---------------------------------------------------------------------
BUS_MAX_DELIVERIES = env_int("BUS_MAX_DELIVERIES", 5)  # then the event is a dead letter
BUS_RETRY_BACKOFF_SECONDS = env_int("BUS_RETRY_BACKOFF_SECONDS", 1)  # doubled per retry
# The relay re-sends an outbox row when it is still not fully handled this long
# after it was last sent (lost message, Redis restarted, crash before enqueue).
OUTBOX_RESEND_AFTER_SECONDS = env_int("OUTBOX_RESEND_AFTER_SECONDS", 30)
OUTBOX_RELAY_INTERVAL_SECONDS = env_int("OUTBOX_RELAY_INTERVAL_SECONDS", 5)
# More messages than this waiting in the queues means the workers are behind, not that
# messages were lost: the relay and the saga watchdog then hold back their re-sends,
# which would only pile duplicates onto the backlog.
BUS_BACKLOG_THRESHOLD = env_int("BUS_BACKLOG_THRESHOLD", 50)
# A task delivers the message it was given together with up to BUS_BATCH_SIZE − 1 more
# already waiting in its queue, one transaction per handler (1: one message per task).
# The gateway queue's batches are charged in one gateway round (payments/charging.py).
BUS_BATCH_SIZE = env_int("BUS_BATCH_SIZE", 100)
BUS_BATCH_SIZES = {"events": BUS_BATCH_SIZE, "gateway": BUS_BATCH_SIZE}
# Completed outbox rows and their inbox rows are pruned this long after completion
# (`manage.py prune_bus`, daily from beat); dead letters stay until staff act on them.
BUS_RETENTION_DAYS = env_int("BUS_RETENTION_DAYS", 30)
# No window shorter than this is accepted, and deliveries check events older than this
# against the outbox, so a message naming a pruned event is dropped, never applied.
BUS_RETENTION_FLOOR_SECONDS = env_int("BUS_RETENTION_FLOOR_SECONDS", 3600)
BUS_PRUNE_INTERVAL_SECONDS = env_int("BUS_PRUNE_INTERVAL_SECONDS", 24 * 3600)

# --- Shop ---------------------------------------------------------------------------
SHOP_CURRENCY = os.environ.get("SHOP_CURRENCY", "USD")
ORDER_FEE_RATE = Decimal(os.environ.get("ORDER_FEE_RATE", "0.20"))
# The seller printed on invoices and credit notes (payments/documents.py), copied onto each
# document when it is issued: a change applies to documents issued afterwards.
SHOP_SELLER_NAME = os.environ.get("SHOP_SELLER_NAME", "Demo Shop Ltd.")
SHOP_SELLER_ADDRESS = os.environ.get("SHOP_SELLER_ADDRESS", "1 Example Street\n12345 Sampletown\nExampleland")
SHOP_SELLER_TAX_ID = os.environ.get("SHOP_SELLER_TAX_ID", "XX000000000")
ORDER_MAX_LINES = env_int("ORDER_MAX_LINES", 50)
ORDER_MAX_QUANTITY = env_int("ORDER_MAX_QUANTITY", 1000)
RESERVATION_TTL_SECONDS = env_int("RESERVATION_TTL_SECONDS", 900)
RESERVATION_EXPIRY_INTERVAL_SECONDS = env_int("RESERVATION_EXPIRY_INTERVAL_SECONDS", 10)
# A saga step that has not moved for this long is re-driven by the watchdog;
# after SAGA_MAX_REDRIVES re-drives it is compensated (cancelled).
SAGA_STEP_DEADLINE_SECONDS = env_int("SAGA_STEP_DEADLINE_SECONDS", 120)
SAGA_MAX_REDRIVES = env_int("SAGA_MAX_REDRIVES", 3)
SAGA_WATCHDOG_INTERVAL_SECONDS = env_int("SAGA_WATCHDOG_INTERVAL_SECONDS", 30)
PAYMENT_GATEWAY = os.environ.get("PAYMENT_GATEWAY", "payments.gateway.SimulatedGateway")
PAYMENT_GATEWAY_LATENCY_MS = env_int("PAYMENT_GATEWAY_LATENCY_MS", 0)
PAYMENT_GATEWAY_DECLINE_RATE = Decimal(os.environ.get("PAYMENT_GATEWAY_DECLINE_RATE", "0"))
PAYMENT_RESUME_AFTER_SECONDS = env_int("PAYMENT_RESUME_AFTER_SECONDS", 15)
# Failed refund attempts after which payments gives up (payment_refund_failed) until asked again.
PAYMENT_REFUND_MAX_ATTEMPTS = env_int("PAYMENT_REFUND_MAX_ATTEMPTS", 8)

# --- Customers: accounts, baskets, live order status ------------------------------------
# API tokens (django-rest-knox): stored hashed, several per user (one per device), revoked
# by logout and by a password change, and expired after AUTH_TOKEN_TTL_HOURS.
AUTH_TOKEN_TTL_HOURS = env_int("AUTH_TOKEN_TTL_HOURS", 24 * 7)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=AUTH_TOKEN_TTL_HOURS),
    "AUTH_HEADER_PREFIX": "Token",  # the header API clients already send
    "AUTO_REFRESH": False,  # a token's lifetime is fixed at login: logging in again renews it
    "USER_SERIALIZER": None,
}
# Expired tokens no longer authenticate; beat deletes their rows this often.
AUTH_TOKEN_PRUNE_INTERVAL_SECONDS = env_int("AUTH_TOKEN_PRUNE_INTERVAL_SECONDS", 3600)
BASKET_TTL_SECONDS = env_int("BASKET_TTL_SECONDS", 30 * 24 * 3600)  # from the basket's last change
BASKET_MAX_LINES = ORDER_MAX_LINES  # a basket checks out as one order
# GET /api/orders/{id}/events/ (server-sent events): a comment line every heartbeat keeps
# proxies from closing an idle stream; a stream ends after ORDER_STREAM_MAX_SECONDS (the
# client reconnects with Last-Event-ID), so a forgotten tab does not hold a thread forever.
ORDER_STREAM_HEARTBEAT_SECONDS = env_int("ORDER_STREAM_HEARTBEAT_SECONDS", 15)
ORDER_STREAM_MAX_SECONDS = env_int("ORDER_STREAM_MAX_SECONDS", 300)
# Streams one web process holds at once (beyond: 503 with Retry-After). Each holds a thread for
# its life, so a quarter of gunicorn's threads (WEB_THREADS, which gunicorn.conf.py passes to its
# workers; at least 2) stay for ordinary requests: 96 of 128 by default (docs/architecture.md).
_web_threads = env_int("WEB_THREADS", 128)  # gunicorn.conf.py's default; runserver has a thread per request
ORDER_STREAMS_PER_PROCESS = env_int("ORDER_STREAMS_PER_PROCESS", max(1, _web_threads - max(2, _web_threads // 4)))

# --- Metrics (docs/observability.md) ---------------------------------------------------------
# GET /metrics answers a scraper sending `Authorization: Bearer <METRICS_TOKEN>`, and staff;
# empty: staff only.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# The database's figures (orders by status: a count over the whole table) are read once per this
# many seconds, shared by every web host and scraper through the cache; 0 reads them at each scrape.
METRICS_CACHE_SECONDS = env_int("METRICS_CACHE_SECONDS", 10)
# Histograms and counters of every process of a host (gunicorn's workers, Celery's prefork
# children) are files in PROMETHEUS_MULTIPROC_DIR (default var/prometheus), summed at each
# scrape. prometheus_client reads the variable when it is first imported, which comes after
# the settings: it is put in the environment here. https://prometheus.github.io/client_python/multiprocess/
PROMETHEUS_MULTIPROC_DIR = str(multiproc_dir_prepare())

# --- REST framework ---------------------------------------------------------------------
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "shop.accounts.authentication.ExpiringTokenAuthentication",  # knox tokens
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "shop.api.exception_handler",
    # Proxies in front of the app that append to X-Forwarded-For. 0 keys a client on the
    # connection's address: trusting the raw header would let a client pick its own key
    # and walk around every rate limit.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
    "COERCE_DECIMAL_TO_STRING": True,
    # https://www.django-rest-framework.org/api-guide/throttling/ — counters live in the
    # Redis cache (shared by every web process). Placing orders and logging in are
    # throttled by scope; everything else only by the anonymous rate. An empty
    # THROTTLE_* switches that rate off, e.g. for load tests.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("THROTTLE_ANON", "120/min") or None,
        "orders": os.environ.get("THROTTLE_ORDERS", "60/min") or None,
        "login": os.environ.get("THROTTLE_LOGIN", "10/min") or None,  # per client IP
        "login_username": os.environ.get("THROTTLE_LOGIN_USERNAME", "5/min") or None,  # per username tried
        "register": os.environ.get("THROTTLE_REGISTER", "10/hour") or None,  # per client IP
        "password_change": os.environ.get("THROTTLE_PASSWORD_CHANGE", "5/min") or None,  # per user
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Shop API",
    "DESCRIPTION": "Event-driven shop: products, orders (saga) and payments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # the API's shape is public
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "shop.openapi.add_error_responses",  # the 4xx/503 answers, in one shape, on every operation
    ],
    # Order and payment statuses share the name "status"; name their enums apart.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "PaymentStatusEnum": "payments.models.Payment.Status",
    },
}

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or VAR_DIR / "static")  # collectstatic's target, WhiteNoise serves it
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Production hardening (https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/) ---
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Probes come over plain HTTP from inside (an orchestrator, a load balancer): a redirect
    # would hide a 503 from them (Kubernetes counts any 3xx as success).
    # Prometheus scrapes each web host directly, inside the network, as the probes do.
    SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logs -------------------------------------------------------------------------------------
# JSON lines in production (one object a line, for a log pipeline), plain text for people.
# Every line carries the order, event and handler it is about where known (shop.log_context:
# set by the bus's delivery and the API views), so one order's story can be filtered across
# web processes, workers and relay re-sends.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"log_context": {"()": "shop.log_context.LogContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s%(context)s"},
        # https://nhairs.github.io/python-json-logger/
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(order_id)s %(event_id)s %(handler)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["log_context"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Email -----------------------------------------------------------------------------
# https://docs.djangoproject.com/en/5.2/topics/email/ — EMAIL_URL (dj-email-url) says it all in
# one: smtp://user:pass@host:587/?tls=True, console:, locmem:, file:///path. Else the usual
# EMAIL_HOST/EMAIL_PORT/EMAIL_HOST_USER/EMAIL_HOST_PASSWORD/EMAIL_USE_TLS; with none of them,
# mails are printed by the worker that sends them when DEBUG (make run), sent to an SMTP server
# on localhost otherwise.
EMAIL_URL = os.environ.get("EMAIL_URL", "")
if EMAIL_URL:
    # "locmem:" reads better than dj-email-url's "memory:"
    _email = dj_email_url.parse("memory:" if EMAIL_URL.startswith("locmem:") else EMAIL_URL)
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
    EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
    EMAIL_PORT = _email["EMAIL_PORT"] or 25
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
else:
    _smtp_configured = "EMAIL_HOST" in os.environ
    EMAIL_BACKEND = (
        "django.core.mail.backends.console.EmailBackend"
        if DEBUG and not _smtp_configured
        else "django.core.mail.backends.smtp.EmailBackend"
    )
    EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
    EMAIL_PORT = env_int("EMAIL_PORT", 25)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)  # seconds: a mail server that hangs fails the attempt
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Shop <shop@localhost>")
# A failed send is tried again after NOTIFY_RETRY_BACKOFF_SECONDS × 2^(attempts − 1), and the
# mail is `failed` (listed on the console) after NOTIFY_MAX_ATTEMPTS; beat sends what is due.
NOTIFY_MAX_ATTEMPTS = env_int("NOTIFY_MAX_ATTEMPTS", 5)
NOTIFY_RETRY_BACKOFF_SECONDS = env_int("NOTIFY_RETRY_BACKOFF_SECONDS", 30)
NOTIFY_SWEEP_INTERVAL_SECONDS = env_int("NOTIFY_SWEEP_INTERVAL_SECONDS", 10)

# --- Periodic tasks (Celery beat) ---------------------------------------------------------
# Each context owns its task; beat only names them, so shop/ imports no context.
# Every run expires when the next one is due: during a worker outage beat keeps sending,
# and stale runs would otherwise pile up in the queue (and count as a backlog).
PERIODIC_TASKS = {
    "outbox-relay": ("shop.bus.tasks.outbox_relay", OUTBOX_RELAY_INTERVAL_SECONDS),
    "reservations-expire": ("inventory.tasks.reservations_expire_task", RESERVATION_EXPIRY_INTERVAL_SECONDS),
    "saga-watchdog": ("orders.tasks.saga_watchdog_task", SAGA_WATCHDOG_INTERVAL_SECONDS),
    "mails-send-due": ("orders.tasks.mails_send_due_task", NOTIFY_SWEEP_INTERVAL_SECONDS),
    "payments-resume": ("payments.tasks.payments_resume_task", PAYMENT_RESUME_AFTER_SECONDS),
    "bus-prune": ("shop.bus.tasks.bus_prune", BUS_PRUNE_INTERVAL_SECONDS),
    "auth-tokens-prune": ("shop.accounts.tasks.auth_tokens_prune", AUTH_TOKEN_PRUNE_INTERVAL_SECONDS),
}
CELERY_BEAT_SCHEDULE = {
    name: {"task": task, "schedule": interval, "options": {"expires": interval}}
    for name, (task, interval) in PERIODIC_TASKS.items()
}
