"""The one settings module. Everything comes from the environment; bad values fail loudly."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url
import dotenv
from django.core.exceptions import ImproperlyConfigured

from runtime import secrets_store

BASE_DIR = Path(__file__).resolve().parent.parent
# A checkout (or a copy of its tree) keeps its data in data/ and reads ./.env; an installed
# command (pip/pipx/uv from a wheel: BASE_DIR is site-packages) keeps it in the user's data folder.
IS_CHECKOUT = BASE_DIR.name not in ("site-packages", "dist-packages")


def _home_default() -> Path:
    if IS_CHECKOUT:
        return BASE_DIR / "data"
    xdg = os.environ.get("XDG_DATA_HOME", "") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "claude-gateway"


def _env_file_load() -> None:
    """Read .env (or GATEWAY_ENV_FILE) into the environment before any variable is read, so
    `make run`, every command and compose see one configuration. Variables already in the
    environment win (override=False): an exported value beats the file."""
    named = os.environ.get("GATEWAY_ENV_FILE", "")
    if not named and "PYTEST_VERSION" in os.environ:
        return  # tests (and the gateways they start) never read a developer's own .env
    home = Path(os.environ.get("GATEWAY_HOME", "") or _home_default())
    path = Path(named) if named else (BASE_DIR if IS_CHECKOUT else home) / ".env"
    if named and not path.is_file():
        raise ImproperlyConfigured(f"GATEWAY_ENV_FILE={named!r} is not a readable file")
    if path.is_file():
        dotenv.load_dotenv(path, override=False, interpolate=False)


_env_file_load()


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from None


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from None
    return os.environ.get(name, default)


DEBUG = env_bool("DEBUG", False)
# The data directory: secrets generated on first start (SECRET_KEY, the field-encryption keys,
# credentials shown once) and the default SQLite database. Compose mounts one volume here for
# web, worker and beat, so they share the keys.
GATEWAY_HOME = Path(env_str("GATEWAY_HOME", "") or _home_default()).absolute()


def _generated(name: str) -> str:
    """A random value kept in GATEWAY_HOME/name (mode 0600), created once by whichever process
    starts first."""
    try:
        return secrets_store.secret_file_ensure(GATEWAY_HOME / name)
    except (OSError, secrets_store.SecretStoreError) as exc:
        raise ImproperlyConfigured(
            f"cannot keep a generated secret in {GATEWAY_HOME / name}: {exc} "
            "(set GATEWAY_HOME to a writable directory, or provide the secret in the environment)"
        ) from None


_SECRET_KEY_ENV = env_secret("SECRET_KEY", "")
if not _SECRET_KEY_ENV and env_bool("REQUIRE_SECRET_KEY", False):
    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when REQUIRE_SECRET_KEY is on")
SECRET_KEY = _SECRET_KEY_ENV or _generated(secrets_store.SECRET_KEY_FILE)
# Provider keys, AWS secrets and OAuth tokens are encrypted (runtime/crypto.py) with the first
# of these keys; the others still decrypt until `manage.py rotate_encryption_key` re-encrypts.
# From FIELD_ENCRYPTION_KEYS (comma list, newest first) or FIELD_ENCRYPTION_KEY, else the data
# directory's file (FIELD_ENCRYPTION_KEYS_FILE below, "" when the environment gives the keys).
_KEYS_ENV = secrets_store.keys_parse(env_secret("FIELD_ENCRYPTION_KEYS", ""))
_KEYS_ENV = _KEYS_ENV or [k for k in [env_secret("FIELD_ENCRYPTION_KEY", "").strip()] if k]
FIELD_ENCRYPTION_KEYS_FILE = "" if _KEYS_ENV else str(GATEWAY_HOME / secrets_store.ENCRYPTION_KEYS_FILE)
if not _KEYS_ENV:
    _generated(secrets_store.ENCRYPTION_KEYS_FILE)
FIELD_ENCRYPTION_KEYS = _KEYS_ENV or list(secrets_store.keys_read(Path(FIELD_ENCRYPTION_KEYS_FILE)))
FIELD_ENCRYPTION_KEY = FIELD_ENCRYPTION_KEYS[0]  # the newest: encrypts


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- Hosts, origins and security headers -------------------------------------------------------
# Loopback names always; a deployment adds its own (ALLOWED_HOSTS=gateway.example.com). The API
# (/v1/..., /health) takes the lean handler, which does not check Host, so API clients reach the
# gateway under any name; the admin, the dashboard and its websocket only under these.
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
ALLOWED_HOSTS = LOOPBACK_HOSTS + [h for h in env_list("ALLOWED_HOSTS") if h not in LOOPBACK_HOSTS]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Behind a TLS-terminating reverse proxy that sets X-Forwarded-Proto: secure cookies, HSTS and
# https links. Off by default so plain http on a laptop keeps working.
GATEWAY_BEHIND_TLS = env_bool("GATEWAY_BEHIND_TLS", False)
if GATEWAY_BEHIND_TLS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# ${VAR} in provider URLs, headers and keys reads only GATEWAY_SECRET_* and these names
# (providers/envvars.py): the well-known upstream key variables by default.
PROVIDER_ENV_ALLOWLIST = env_list(
    "PROVIDER_ENV_ALLOWLIST",
    "OPENAI_API_KEY,OPENAI_BASE_URL,ANTHROPIC_API_KEY,ANTHROPIC_BASE_URL,ANTHROPIC_UPSTREAM_URL,"
    "OPENROUTER_API_KEY,GEMINI_API_KEY,GOOGLE_API_KEY,NVIDIA_API_KEY,DEEPSEEK_API_KEY,MISTRAL_API_KEY,"
    "AZURE_OPENAI_API_KEY,AZURE_OPENAI_KEY,AZURE_API_KEY,AWS_BEARER_TOKEN_BEDROCK",
)

# Not "daphne": its app imports daphne's server at django.setup(), which installs Twisted's reactor
# (on the standard library's loop, before EVENT_LOOP's could be) and loads Twisted, autobahn and
# pyOpenSSL into every process: the Celery worker and each management command too. The gateway
# serves with `manage.py serve` (daphne_tuning.edge_command_line); `runserver` is Django's own.
INSTALLED_APPS = [
    "proxy_project.admin_site.GatewayAdminConfig",  # django.contrib.admin with the product's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "ninja",  # serves Swagger UI for /api/docs from its static files (no CDN)
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "providers",
    "routing",
    "clients",
    "gateway",
    "dashboard",
    "configuration",
    "audit",
    "sso",
    "proxy_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "proxy_project.security.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Who changed what: the request's user for the audit trail (async-capable, reads nothing itself).
    "audit.middleware.audit_actor_middleware",
]

ROOT_URLCONF = "proxy_project.urls"
ASGI_APPLICATION = "proxy_project.asgi.application"
WSGI_APPLICATION = None

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

# The default database lives in the data directory; a db.sqlite3 at the repository root (where
# it lived before GATEWAY_HOME) is kept in use, so existing installs keep their data.
_LEGACY_DB = BASE_DIR / "db.sqlite3"
_default_db = f"sqlite:///{_LEGACY_DB if _LEGACY_DB.exists() else GATEWAY_HOME / 'db.sqlite3'}"
if not _LEGACY_DB.exists() and not os.environ.get("DATABASE_URL"):
    GATEWAY_HOME.mkdir(mode=0o700, parents=True, exist_ok=True)  # SQLite creates the file, not its folder
DATABASE_URL = env_str("DATABASE_URL", _default_db)
try:
    # Persistent connections are checked before their first use in each request (a PostgreSQL
    # restart would otherwise leave them broken); with 0 they are closed after every request.
    # A SQLite file has no server to restart and opening it costs ~0.5 ms (Django registers its
    # SQL functions on every connection), so its connections are kept for 10 minutes by default.
    _conn_max_age = env_int("DB_CONN_MAX_AGE", 600 if DATABASE_URL.startswith("sqlite") else 0)
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=_conn_max_age,
                                                  conn_health_checks=_conn_max_age > 0)}
except Exception as exc:  # dj_database_url raises several types for bad URLs
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the log writer and the request path read/write concurrently.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    # Tests use a file (not shared-cache memory, whose table locks fail at once instead of
    # waiting), so tests with concurrent writers see SQLite's real locking.
    DATABASES["default"]["TEST"] = {
        "NAME": env_str("TEST_SQLITE_NAME", "")
        or os.path.join(tempfile.gettempdir(), f"claude-gateway-test-{os.getpid()}.sqlite3")
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Claude Code requests with images and PDFs can be tens of MB; larger ones get 413.
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 64 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    # Short socket timeouts: an unreachable Redis must fail fast (runtime/outage.py backs off).
    # The channel layer gets the connect timeout only: its receive blocks in BRPOP for seconds.
    _redis_timeout = env_float("REDIS_SOCKET_TIMEOUT", 1.0)
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_connect_timeout": _redis_timeout}]}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": _redis_timeout, "socket_timeout": _redis_timeout}}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "dashboard" / "static"] if (BASE_DIR / "dashboard" / "static").exists() else []
LOGIN_URL = "/admin/login/"

# --- Gateway behaviour -------------------------------------------------------------------------
# Open the gateway without client keys (single-user laptop use). Off by default.
GATEWAY_OPEN_ACCESS = env_bool("GATEWAY_OPEN_ACCESS", False)
REQUEST_TIMEOUT = env_float("REQUEST_TIMEOUT", 600.0)         # upstream read timeout (s)
CONNECT_TIMEOUT = env_float("CONNECT_TIMEOUT", 10.0)
MAX_TOKENS_LIMIT = env_int("MAX_TOKENS_LIMIT", 0)              # 0: no global clamp
STREAM_PING_INTERVAL = env_float("STREAM_PING_INTERVAL", 10.0)  # ping while the upstream is silent
# A stream is committed to its upstream at the first event or after this long; before that an
# upstream error is still answered with an HTTP status (and may fall back).
STREAM_COMMIT_WAIT = env_float("STREAM_COMMIT_WAIT", 5.0)
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 200)
UPSTREAM_LEAN_POOL = env_bool("UPSTREAM_LEAN_POOL", True)  # httpcore pool with linear housekeeping
ROUTE_TABLE_TTL = env_float("ROUTE_TABLE_TTL", 1.0)            # seconds between config version checks
ROUTE_TABLE_MAX_AGE = env_float("ROUTE_TABLE_MAX_AGE", 60.0)   # reload at least this often, whatever the version
CLIENT_KEY_CACHE_TTL = env_float("CLIENT_KEY_CACHE_TTL", 30.0)
REQUEST_LOG_FLUSH_INTERVAL = env_float("REQUEST_LOG_FLUSH_INTERVAL", 0.5)
# Log rows (and fallback events) kept in memory while the database is down; beyond it the oldest go.
REQUEST_LOG_BACKLOG_MAX = env_int("REQUEST_LOG_BACKLOG_MAX", 20_000)
RATE_LIMIT_COOLDOWN_DEFAULT = env_float("RATE_LIMIT_COOLDOWN_DEFAULT", 300.0)

# --- The HTTP edge (proxy_project/handlers.py, daphne_tuning.py) ---------------------------------
REQUEST_BODY_TIMEOUT = env_float("REQUEST_BODY_TIMEOUT", 30.0)   # whole body within this, else 408
LISTEN_BACKLOG = env_int("LISTEN_BACKLOG", 4096)                 # kernel accept queue (somaxconn caps it)
# In-flight API requests (streams included) one process takes; past it: 529 overloaded_error.
MAX_INFLIGHT_REQUESTS = env_int("MAX_INFLIGHT_REQUESTS", 1500)
OVERLOAD_RETRY_AFTER = env_int("OVERLOAD_RETRY_AFTER", 2)        # seconds, sent as retry-after with 529
# `manage.py serve` runs with PYTHONMALLOC=malloc (unless PYTHONMALLOC is set) so that memory
# goes back to the OS after a burst (runtime/memory.py).
GATEWAY_SYSTEM_MALLOC = env_bool("GATEWAY_SYSTEM_MALLOC", True)


def _usable_cores() -> int:
    """CPUs this process may use: its affinity mask, lowered by a cgroup v2 CPU quota (a container's
    `cpus:` or a Kubernetes CPU limit), so a 1-CPU pod on a 64-core node runs one web process."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, -(-int(quota) // int(period))))  # ceil: 1.5 CPUs -> 2 processes


# daphne processes `manage.py serve` runs on its one listening socket (1: daphne in serve itself).
# Default: one per usable CPU where Redis shares limits, cache and dashboard events between them;
# with the embedded defaults one process, so a laptop's limits and live dashboard stay exact.
WEB_PROCESSES = env_int("WEB_PROCESSES", 0) or (_usable_cores() if REDIS_URL else 1)

# --- Celery --------------------------------------------------------------------------------------
# Without Redis the broker is a folder (kombu's filesystem transport): it needs no server and,
# unlike memory://, works between the web process, the worker and beat on one machine.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "") or (REDIS_URL or "filesystem://")
CELERY_BROKER_FOLDER = Path(env_str("CELERY_BROKER_FOLDER", "")
                            or (BASE_DIR / ".celery" if IS_CHECKOUT else GATEWAY_HOME / "broker"))
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(CELERY_BROKER_FOLDER / "queue"),
        "data_folder_out": str(CELERY_BROKER_FOLDER / "queue"),
        "processed_folder": str(CELERY_BROKER_FOLDER / "processed"),
        "control_folder": str(CELERY_BROKER_FOLDER / "control"),
    }
    if CELERY_BROKER_URL.startswith("filesystem://")
    else {}
)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 60)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 90)
# Periodic tasks live in the database and are edited in the admin (django-celery-beat).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
HEALTH_CHECK_INTERVAL = env_int("HEALTH_CHECK_INTERVAL", 60)       # seconds; default beat schedule
HEALTH_CHECK_TIMEOUT = env_float("HEALTH_CHECK_TIMEOUT", 10.0)     # seconds for one provider check
REQUEST_LOG_RETENTION_DAYS = env_int("REQUEST_LOG_RETENTION_DAYS", 30)  # 0 keeps logs forever
REQUEST_LOG_PRUNE_BATCH = env_int("REQUEST_LOG_PRUNE_BATCH", 5000)
# Unassigned agent fingerprints seen in traffic: at most this many rows (the least recently seen
# make room), deleted after this many days without a sighting (0 keeps them).
FINGERPRINT_SIGHTINGS_MAX = env_int("FINGERPRINT_SIGHTINGS_MAX", 1000)
FINGERPRINT_SIGHTINGS_RETENTION_DAYS = env_int("FINGERPRINT_SIGHTINGS_RETENTION_DAYS", 14)
# The dashboard's hour/day totals are recomputed at most this often per process (seconds).
DASHBOARD_TOTALS_INTERVAL = env_float("DASHBOARD_TOTALS_INTERVAL", 1.0)

# --- Numbers: request rows, refusals, health, /metrics, the console line ----------------------------
# Refusals (401/408/413/429/529) of one key and reason beyond this many a second become one counted row.
REFUSAL_ROWS_PER_SECOND = env_int("REFUSAL_ROWS_PER_SECOND", 5)
# A provider is unhealthy when at least HEALTH_ERROR_MIN_CALLS of its calls in the last
# HEALTH_ERROR_WINDOW seconds were made and at least HEALTH_ERROR_RATE of them failed.
HEALTH_ERROR_WINDOW = env_float("HEALTH_ERROR_WINDOW", 300.0)
HEALTH_ERROR_MIN_CALLS = env_int("HEALTH_ERROR_MIN_CALLS", 5)
HEALTH_ERROR_RATE = env_float("HEALTH_ERROR_RATE", 0.5)
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)  # Prometheus counting and /metrics (staff token or session)
# OpenTelemetry traces (the `otel` extra): a span per request, a child per upstream attempt, OTLP over
# HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (dashboard/tracing.py).
OTEL_TRACES_ENABLED = env_bool("OTEL_TRACES_ENABLED", False)
REQUEST_CONSOLE_LOG = env_bool("REQUEST_CONSOLE_LOG", True)  # one line per request on the console

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"handled_responses": {"()": "dashboard.console.HandledResponses"}},
    "formatters": {"request_line": {"()": "dashboard.console.RequestLineFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["handled_responses"]},
        "requests": {"class": "logging.StreamHandler", "formatter": "request_line"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {
        "gateway": {"level": env_str("GATEWAY_LOG_LEVEL", "INFO")},
        "gateway.requests": {"handlers": ["requests"], "level": "INFO", "propagate": False},
    },
}

# --- Routing and resilience --------------------------------------------------------------------
CIRCUIT_FAILURE_THRESHOLD = env_int("CIRCUIT_FAILURE_THRESHOLD", 5)
CIRCUIT_RECOVERY_TIMEOUT = env_float("CIRCUIT_RECOVERY_TIMEOUT", 30.0)
CIRCUIT_REFRESH = env_float("CIRCUIT_REFRESH", 1.0)  # seconds between reloads of shared circuit state
SESSION_AFFINITY_TTL = env_float("SESSION_AFFINITY_TTL", 3600.0)
# Headers carrying Claude Code's subagent id/name, matched against agent fingerprint names.
AGENT_ID_HEADERS = [
    h.strip() for h in env_str("AGENT_ID_HEADERS", "x-claude-code-agent-id,x-claude-code-agent,x-agent-id").split(",")
    if h.strip()
]

# --- Claude OAuth --------------------------------------------------------------------------------
OAUTH_TOKEN_URL = env_str("OAUTH_TOKEN_URL", "https://console.anthropic.com/v1/oauth/token")
OAUTH_CLIENT_ID = env_str("OAUTH_CLIENT_ID", "9d1c250a-e61b-44d9-88ed-5944d1962f5e")  # Claude Code's public id
OAUTH_REFRESH_MARGIN = env_float("OAUTH_REFRESH_MARGIN", 600.0)  # refresh this many seconds before expiry
OAUTH_REFRESH_TIMEOUT = env_float("OAUTH_REFRESH_TIMEOUT", 20.0)

# --- Single sign-on (OpenID Connect, mozilla-django-oidc) ----------------------------------------
# Off by default; local passwords always keep working (the first superuser, break-glass access).
OIDC_ENABLED = env_bool("OIDC_ENABLED", False)
# Endpoints come from ISSUER/.well-known/openid-configuration at the first sign-in.
OIDC_ISSUER = env_str("OIDC_ISSUER", "").rstrip("/")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_RP_CLIENT_SECRET = env_secret("OIDC_CLIENT_SECRET", "")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile groups")
OIDC_RP_SIGN_ALGO = env_str("OIDC_SIGN_ALGO", "RS256")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_STAFF_GROUP = env_str("OIDC_STAFF_GROUP", "")
OIDC_SUPERUSER_GROUP = env_str("OIDC_SUPERUSER_GROUP", "")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_TIMEOUT = env_float("OIDC_TIMEOUT", 10.0)
# Empty: taken from the discovery document (set them for a provider without discovery).
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_USERINFO_ENDPOINT", "")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_JWKS_ENDPOINT", "")
OIDC_USE_PKCE = True
OIDC_AUTHENTICATE_CLASS = "sso.views.SSOLoginView"
OIDC_CALLBACK_CLASS = "sso.views.SSOCallbackView"
LOGIN_REDIRECT_URL = "/admin/"  # after SSO sign-in without a ?next=
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if OIDC_ENABLED:
    if not OIDC_RP_CLIENT_ID or not (OIDC_ISSUER or OIDC_OP_AUTHORIZATION_ENDPOINT):
        raise ImproperlyConfigured("OIDC_ENABLED needs OIDC_ISSUER (or the endpoints) and OIDC_CLIENT_ID")
    if not (OIDC_STAFF_GROUP or OIDC_SUPERUSER_GROUP):
        raise ImproperlyConfigured("OIDC_ENABLED needs OIDC_STAFF_GROUP or OIDC_SUPERUSER_GROUP (else everyone is refused)")
    AUTHENTICATION_BACKENDS.append("sso.backends.GroupClaimBackend")
