"""AgentCom settings: every knob is an environment variable with a laptop-safe default.

Embedded (default): SQLite in AGENTCOM_DATA_DIR and the in-memory channel layer.
Scaled: DATABASE_URL (Postgres) and REDIS_URL (channels-redis).
"""

import ipaddress
import json
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.getenv(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: int) -> int:
    value = os.getenv(name)
    return default if value is None or value == "" else int(value)


def envfloat(name: str, default: float) -> float:
    value = os.getenv(name)
    return default if value is None or value == "" else float(value)


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.getenv(name)
    if value is None or value == "":
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


DATA_DIR = Path(os.getenv("AGENTCOM_DATA_DIR") or BASE_DIR / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once into the data dir."""
    if key := os.getenv("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Written whole beside it, then linked into place: of processes starting at once
        # (a hub and its workers) the first link wins and nobody reads a half-written key.
        draft = DATA_DIR / f".secret_key.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["*"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "agentcom_site.admin_site.HubAdminConfig",  # django.contrib.admin, with the hub's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_fsm",
    "ninja",  # its templates and static files: the API docs load nothing from a CDN
    "agentcom_site",
    "agentcom_site.dashboard",
    "agentcom_site.operations",
    "agents",
    "tasks",
    "messaging",
]

MIDDLEWARE = [
    "agentcom_site.middleware.RequestObservingMiddleware",
    "agentcom_site.middleware.ApiBodyGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "agentcom_site.urls"
APPEND_SLASH = False

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

ASGI_APPLICATION = "agentcom_site.asgi.application"

# --- Data -------------------------------------------------------------------
# Database work runs on one long-lived thread per process (see asgi.py), so a
# persistent connection saves a reconnect per operation.
DB_CONN_MAX_AGE = envint("AGENTCOM_DB_CONN_MAX_AGE", 600)
if os.getenv("DATABASE_URL"):
    DATABASES = {
        "default": dj_database_url.parse(
            os.environ["DATABASE_URL"], conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True
        )
    }
    # The test runner's own database: named per run, so two runs on one server do not
    # drop each other's (unset: Django's test_<name>).
    if os.getenv("AGENTCOM_TEST_DB_NAME"):
        DATABASES["default"]["TEST"] = {"NAME": os.environ["AGENTCOM_TEST_DB_NAME"]}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "agentcom.sqlite3",
            # IMMEDIATE takes the write lock at BEGIN, so two claims never interleave
            # and a writer waits (busy timeout) instead of failing mid-transaction.
            "CONN_MAX_AGE": DB_CONN_MAX_AGE,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer ------------------------------------------------------------
REDIS_URL = os.getenv("REDIS_URL", "")
GROUP_EXPIRY_S = 10 * 365 * 24 * 3600
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # channels-redis blocks 5 s in BZPOPMIN per receive; the client's read
                # timeout must be longer, or an idle socket's receive fails and the
                # consumer dies.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": os.getenv("AGENTCOM_REDIS_PREFIX", "agentcom"),
                "capacity": 10_000,
                "expiry": 60,
                # Group memberships live as long as the socket, not a day.
                "group_expiry": GROUP_EXPIRY_S,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "agentcom_site.layers.HubInMemoryChannelLayer",
            "CONFIG": {"capacity": 10_000, "group_expiry": GROUP_EXPIRY_S},
        }
    }

# --- Protocol timers and limits (PROTOCOL.md §1) --------------------------------
AGENTCOM_ACCEPT_TIMEOUT_S = envfloat("AGENTCOM_ACCEPT_TIMEOUT_S", 60)
AGENTCOM_STUCK_AFTER_S = envfloat("AGENTCOM_STUCK_AFTER_S", 300)
AGENTCOM_SWEEP_INTERVAL_S = envfloat("AGENTCOM_SWEEP_INTERVAL_S", 30)
# Embedded mode: how often the hub looks whether another process (a management command,
# the admin of another process) wrote to the database, to schedule what it submitted.
AGENTCOM_FOREIGN_WRITE_CHECK_S = envfloat("AGENTCOM_FOREIGN_WRITE_CHECK_S", 0.2)
AGENTCOM_PING_TTL_S = envfloat("AGENTCOM_PING_TTL_S", 60)
AGENTCOM_RECONNECT_GRACE_S = envfloat("AGENTCOM_RECONNECT_GRACE_S", 60)
AGENTCOM_JOIN_KEY = os.getenv("AGENTCOM_JOIN_KEY", "")
# Each hub process beats this often; the agents of one silent for the second figure
# (SIGKILL, a crash, a wedged loop) are set offline by any other process.
AGENTCOM_PROCESS_BEAT_S = envfloat("AGENTCOM_PROCESS_BEAT_S", 1)
AGENTCOM_PROCESS_DEAD_AFTER_S = envfloat("AGENTCOM_PROCESS_DEAD_AFTER_S", 5)
# The hub's public address (https://hub.example.com): registration answers name it
# instead of trusting the request's Host header. Unset = follow the request.
AGENTCOM_PUBLIC_URL = os.getenv("AGENTCOM_PUBLIC_URL", "").rstrip("/")
if AGENTCOM_PUBLIC_URL and not AGENTCOM_PUBLIC_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("AGENTCOM_PUBLIC_URL must start with http:// or https://")
# WIP caps for keys with no cap of their own (flow control): 0 means unlimited.
AGENTCOM_WIP_CAP_PER_CAPABILITY = envint("AGENTCOM_WIP_CAP_PER_CAPABILITY", 0)
AGENTCOM_WIP_CAP_PER_SUBMITTER = envint("AGENTCOM_WIP_CAP_PER_SUBMITTER", 0)
# Delegation (PROTOCOL.md §4.5): how deep tasks submitted by holders may nest, and how
# many children one task may have, so an agent cannot fork-bomb the queue.
AGENTCOM_DELEGATION_MAX_DEPTH = envint("AGENTCOM_DELEGATION_MAX_DEPTH", 3)
AGENTCOM_DELEGATION_MAX_CHILDREN = envint("AGENTCOM_DELEGATION_MAX_CHILDREN", 20)
# Run the scheduler and sweep inside the ASGI process (embedded mode). Scaled
# deployments turn this off on the ASGI processes and run `manage.py schedule`.
# An agent rejecting the same task again waits this long, doubling, before it is
# offered that task again (PROTOCOL.md §3.5).
AGENTCOM_REJECT_BACKOFF_S = envfloat("AGENTCOM_REJECT_BACKOFF_S", 1)
AGENTCOM_REJECT_BACKOFF_MAX_S = envfloat("AGENTCOM_REJECT_BACKOFF_MAX_S", 60)
AGENTCOM_EMBEDDED_SCHEDULER = envbool("AGENTCOM_EMBEDDED_SCHEDULER", True)

AGENTCOM_MAILBOX_MAX_ENTRIES = envint("AGENTCOM_MAILBOX_MAX_ENTRIES", 100)
AGENTCOM_MAILBOX_MAX_BYTES = envint("AGENTCOM_MAILBOX_MAX_BYTES", 2 * 1024 * 1024)
AGENTCOM_MAX_CHANNELS_PER_CREATOR = envint("AGENTCOM_MAX_CHANNELS_PER_CREATOR", 20)
AGENTCOM_HISTORY_KEEP = envint("AGENTCOM_HISTORY_KEEP", 10_000)

AGENTCOM_MAX_FRAME_BYTES = 1024 * 1024
# Every list is a page of at most this many items (PROTOCOL.md §4), and a task in a
# list carries this much of its description.
AGENTCOM_LIST_MAX = 200
AGENTCOM_DESCRIPTION_PREVIEW = 200
# Items are added to a message or mailbox page until their payloads pass this budget.
AGENTCOM_PAGE_PAYLOAD_BYTES = envint("AGENTCOM_PAGE_PAYLOAD_BYTES", 2 * 1024 * 1024)
# Sockets that have not identified (PROTOCOL.md §2.5): closed after the timeout, and at
# most this many per client address and in all (0 = half the open-files limit).
AGENTCOM_IDENTIFY_TIMEOUT_S = envfloat("AGENTCOM_IDENTIFY_TIMEOUT_S", 10)
AGENTCOM_MAX_UNIDENTIFIED_PER_ADDRESS = envint("AGENTCOM_MAX_UNIDENTIFIED_PER_ADDRESS", 64)
AGENTCOM_MAX_UNIDENTIFIED = envint("AGENTCOM_MAX_UNIDENTIFIED", 0)
# The net under every page limit: no HTTP response body is larger (PROTOCOL.md §4.1).
AGENTCOM_MAX_RESPONSE_BYTES = envint("AGENTCOM_MAX_RESPONSE_BYTES", 8 * 1024 * 1024)
# How often an open dashboard socket checks that its session is still an operator's.
AGENTCOM_DASHBOARD_SESSION_CHECK_S = envfloat("AGENTCOM_DASHBOARD_SESSION_CHECK_S", 5)
AGENTCOM_VALIDATION_STRIKES = 10  # validation errors within the window close the socket
AGENTCOM_VALIDATION_WINDOW_S = 60
DATA_UPLOAD_MAX_MEMORY_SIZE = AGENTCOM_MAX_FRAME_BYTES + 1024

# --- Rate limits (PROTOCOL.md §1 "Rate limits") -----------------------------------------
# A token bucket per principal and budget: (capacity, tokens regained per second).
AGENTCOM_RATE_LIMITS = envbool("AGENTCOM_RATE_LIMITS", True)
AGENTCOM_JOIN_FAILURES_PER_MIN = envfloat("AGENTCOM_JOIN_FAILURES_PER_MIN", 10)
AGENTCOM_RATE_BUDGETS = {
    "default": (
        envfloat("AGENTCOM_RATE_CAPACITY", 120),
        envfloat("AGENTCOM_RATE_REFILL_PER_S", 2),
    ),
    # task_progress and wake_result: their own bucket, so chat never starves them.
    "lifecycle": (
        envfloat("AGENTCOM_RATE_LIFECYCLE_CAPACITY", 60),
        envfloat("AGENTCOM_RATE_LIFECYCLE_REFILL_PER_S", 1),
    ),
    # Wrong join keys per client address.
    "join": (AGENTCOM_JOIN_FAILURES_PER_MIN, AGENTCOM_JOIN_FAILURES_PER_MIN / 60),
}
# What each action costs; 0 = never limited.
AGENTCOM_RATE_WEIGHTS = {
    "read": envint("AGENTCOM_RATE_COST_READ", 1),
    "message": envint("AGENTCOM_RATE_COST_MESSAGE", 2),
    "publish": envint("AGENTCOM_RATE_COST_PUBLISH", 2),
    "broadcast": envint("AGENTCOM_RATE_COST_BROADCAST", 10),
    "submit": envint("AGENTCOM_RATE_COST_SUBMIT", 2),
    "register": envint("AGENTCOM_RATE_COST_REGISTER", 20),
    "progress": envint("AGENTCOM_RATE_COST_PROGRESS", 1),
    "join_failure": 1,
}
# Operators (people, CI) are trusted and submit in bulk: by default they are not limited;
# a positive factor gives them that many times an agent's budgets instead.
AGENTCOM_RATE_OPERATOR_FACTOR = envfloat("AGENTCOM_RATE_OPERATOR_FACTOR", 0)
AGENTCOM_RATE_WARN_AT = envfloat("AGENTCOM_RATE_WARN_AT", 0.8)  # share spent before a warning
AGENTCOM_RATE_PREFIX = os.getenv("AGENTCOM_REDIS_PREFIX", "agentcom") + ":rate"

# --- Alerts, webhooks, backups (docs/OPERATIONS.md) ------------------------------------------
# Alert thresholds: the defaults; an operator changes them at run time (admin or
# PUT /api/alerts/settings), and a value stored there wins over these.
AGENTCOM_ALERT_AGENT_OFFLINE_S = envfloat("AGENTCOM_ALERT_AGENT_OFFLINE_S", 600)
AGENTCOM_ALERT_QUEUE_GROWTH = envint("AGENTCOM_ALERT_QUEUE_GROWTH", 100)
AGENTCOM_ALERT_QUEUE_WINDOW_S = envfloat("AGENTCOM_ALERT_QUEUE_WINDOW_S", 900)
AGENTCOM_ALERT_FAILURE_RATE = envfloat("AGENTCOM_ALERT_FAILURE_RATE", 0.5)
AGENTCOM_ALERT_FAILURE_MIN = envint("AGENTCOM_ALERT_FAILURE_MIN", 10)
AGENTCOM_ALERT_FAILURE_WINDOW_S = envfloat("AGENTCOM_ALERT_FAILURE_WINDOW_S", 900)
AGENTCOM_ALERT_STUCK_AFTER_S = envfloat("AGENTCOM_ALERT_STUCK_AFTER_S", 240)
# A holder's question unanswered this long raises `question_unanswered` (PROTOCOL.md §3.9).
AGENTCOM_ALERT_QUESTION_AFTER_S = envfloat("AGENTCOM_ALERT_QUESTION_AFTER_S", 900)
AGENTCOM_ALERT_DEAD_LETTER_WINDOW_S = envfloat("AGENTCOM_ALERT_DEAD_LETTER_WINDOW_S", 3600)
AGENTCOM_ALERT_COOLDOWN_S = envfloat("AGENTCOM_ALERT_COOLDOWN_S", 900)
# Resolved alerts (with their history) and finished webhook deliveries are kept this long.
AGENTCOM_ALERT_KEEP_DAYS = envfloat("AGENTCOM_ALERT_KEEP_DAYS", 30)
# Webhook delivery: attempts per alert event, the first retry's wait (doubling), the
# timeout of one POST, and POSTs in flight at once per process.
AGENTCOM_WEBHOOK_MAX_ATTEMPTS = envint("AGENTCOM_WEBHOOK_MAX_ATTEMPTS", 5)
AGENTCOM_WEBHOOK_BACKOFF_S = envfloat("AGENTCOM_WEBHOOK_BACKOFF_S", 10)
AGENTCOM_WEBHOOK_TIMEOUT_S = envfloat("AGENTCOM_WEBHOOK_TIMEOUT_S", 5)
AGENTCOM_WEBHOOK_CONCURRENCY = envint("AGENTCOM_WEBHOOK_CONCURRENCY", 4)
# Refuse to deliver to loopback, private and link-local addresses (SSRF, docs/OPERATIONS.md).
AGENTCOM_WEBHOOK_BLOCK_PRIVATE = envbool("AGENTCOM_WEBHOOK_BLOCK_PRIVATE", False)
# Scheduled SQLite backups by the process that runs the sweep: 0 = off.
AGENTCOM_BACKUP_EVERY_S = envfloat("AGENTCOM_BACKUP_EVERY_S", 0)
AGENTCOM_BACKUP_KEEP = envint("AGENTCOM_BACKUP_KEEP", 3)
AGENTCOM_BACKUP_DIR = Path(os.getenv("AGENTCOM_BACKUP_DIR") or DATA_DIR / "backups").resolve()

# --- Auth, i18n, static -----------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/admin/login/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# One way of writing a moment (UTC, with seconds) in the dashboard and the admin.
FORMAT_MODULE_PATH = ["agentcom_site.formats"]
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

# --- Logs (OPERATIONS.md "Logs") ------------------------------------------------------
# One JSON object per line (or a readable line on a terminal: "auto"), secrets masked.
AGENTCOM_LOG_LEVEL = os.getenv("AGENTCOM_LOG_LEVEL", "INFO").upper()
if AGENTCOM_LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured("AGENTCOM_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
AGENTCOM_LOG_FORMAT = os.getenv("AGENTCOM_LOG_FORMAT", "auto")  # auto, json, console
if AGENTCOM_LOG_FORMAT not in ("auto", "json", "console"):
    raise ImproperlyConfigured("AGENTCOM_LOG_FORMAT must be auto, json or console")
# How often each process picks up a level an operator set at run time.
AGENTCOM_LOG_LEVEL_CHECK_S = envfloat("AGENTCOM_LOG_LEVEL_CHECK_S", 5)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "hub": {"()": "agentcom_site.core.logs.hub_formatter", "style": AGENTCOM_LOG_FORMAT}
    },
    "filters": {
        "context": {"()": "agentcom_site.core.logs.ContextFilter"},
        "redact": {"()": "agentcom_site.core.logs.RedactionFilter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "hub",
            "filters": ["context", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": AGENTCOM_LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        "daphne": {"level": "WARNING"},
    },
}

# --- Metrics (OPERATIONS.md "Metrics") ----------------------------------------------------
# Who may read /metrics besides operators: a scrape token (Bearer) and/or client
# addresses or networks (comma-separated, e.g. "127.0.0.1,10.0.0.0/8"). Both empty:
# operators only. The multiprocess directory is prometheus-client's own variable,
# PROMETHEUS_MULTIPROC_DIR (read before anything imports the library).
AGENTCOM_METRICS_TOKEN = os.getenv("AGENTCOM_METRICS_TOKEN", "")
AGENTCOM_METRICS_ALLOW = envlist("AGENTCOM_METRICS_ALLOW", [])
for _network in AGENTCOM_METRICS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"AGENTCOM_METRICS_ALLOW: {_network!r} is not an address or a network"
        ) from None
# Queue-age series per capability key: the oldest keys only, so labels stay bounded.
AGENTCOM_METRICS_MAX_KEYS = envint("AGENTCOM_METRICS_MAX_KEYS", 50)


# --- Costs (PROTOCOL.md §3.2, §4.5 "Costs") ------------------------------------------------
def _prices(raw: str) -> dict[str, dict[str, float]]:
    """AGENTCOM_PRICES: JSON {model: {"in_per_mtok": dollars, "out_per_mtok": dollars}},
    what a million input and output tokens cost. Checked here, so a typo stops the start."""
    try:
        table = json.loads(raw or "{}")
    except ValueError as exc:
        raise ImproperlyConfigured(f"AGENTCOM_PRICES is not JSON: {exc}") from None
    if not isinstance(table, dict) or len(table) > 1000:
        raise ImproperlyConfigured("AGENTCOM_PRICES must be a JSON object of at most 1000 models")
    prices = {}
    for model, price in table.items():
        if not (isinstance(model, str) and 0 < len(model) <= 128 and isinstance(price, dict)):
            raise ImproperlyConfigured(f"AGENTCOM_PRICES: {model!r} needs a price object")
        if set(price) != {"in_per_mtok", "out_per_mtok"}:
            raise ImproperlyConfigured(
                f"AGENTCOM_PRICES[{model!r}] must have exactly in_per_mtok and out_per_mtok"
            )
        for key, value in price.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ImproperlyConfigured(f"AGENTCOM_PRICES[{model!r}].{key} must be a number")
            if not 0 <= value <= 10_000:
                raise ImproperlyConfigured(f"AGENTCOM_PRICES[{model!r}].{key} must be 0-10000")
        prices[model] = {key: float(value) for key, value in price.items()}
    return prices


AGENTCOM_PRICES = _prices(os.getenv("AGENTCOM_PRICES", ""))
# The longest range GET /api/costs sums over, in days.
AGENTCOM_COSTS_MAX_DAYS = envint("AGENTCOM_COSTS_MAX_DAYS", 90)
