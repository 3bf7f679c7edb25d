"""Atom's settings, read from the environment through the typed helpers of atom.env.

With no environment at all Atom runs embedded: SQLite and Celery's filesystem transport under var/,
a cache that is shared between the processes of one machine. DATABASE_URL and REDIS_URL (or
CELERY_BROKER_URL) switch to PostgreSQL and Redis. ATOM_ENV=production refuses unsafe set-ups.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from atom.env import env_bool, env_choice, env_float, env_int, env_list, env_str
from atom.production import DEFAULT_JWT_SIGNING_KEY, DEFAULT_SECRET_KEY, jwt_problems, production_problems

BASE_DIR = Path(__file__).resolve().parent.parent
ATOM_ENV = env_choice("ATOM_ENV", "development", ("development", "test", "production"))
PRODUCTION = ATOM_ENV == "production"
TESTING = ATOM_ENV == "test"
VAR_DIR = Path(env_str("ATOM_VAR_DIR", str(BASE_DIR / "var")))
if not PRODUCTION:
    VAR_DIR.mkdir(parents=True, exist_ok=True)

# numpy's BLAS (OpenBLAS, MKL) and OpenMP pools, per process. Web and worker processes already run in
# parallel, so threads inside one matrix-vector product only contend with each other: at 10 k episodes a
# semantic query's p50 was 6.16 ms with the default pools and 0.63 ms with one thread. The pools read
# these variables when numpy is first imported, which in every Atom process (web, worker, beat,
# commands) comes after the settings.
ATOM_NUMPY_THREADS = env_int("ATOM_NUMPY_THREADS", 1, minimum=1, maximum=256)
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_pool] = str(ATOM_NUMPY_THREADS)

DEBUG = env_bool("DJANGO_DEBUG", ATOM_ENV == "development")
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "" if PRODUCTION else DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # First, so its admin templates (the index with the dashboard link) override the admin's own.
    "console",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "atom",
    "accounts",
    "governance",
    "episodes",
    "bugs",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "atom.api.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "atom.api.middleware.BodySizeLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "atom.urls"
WSGI_APPLICATION = "atom.wsgi.application"
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
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
SQLITE_PATH = Path(env_str("ATOM_SQLITE_PATH", str(VAR_DIR / "atom.sqlite3")))
if DATABASE_URL:
    if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or postgresql:// URL.")
    _database: dict[str, Any] = dict(
        dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("ATOM_DB_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True)
    )
    # One test database per test process, so that parallel test runs on one server never collide.
    _database["TEST"] = {"NAME": f"test_atom_{os.getpid()}"}
    # Every wait on the database is bounded (BUG-084): a server that accepts and never answers fails
    # the connection after the connect timeout (libpq's floor is 2 s), and a statement that runs away
    # is cancelled by the server. 0 switches the statement timeout off (e.g. for a long migration).
    _database["OPTIONS"] = {
        **_database.get("OPTIONS", {}),
        "connect_timeout": env_int("ATOM_DB_CONNECT_TIMEOUT", 3, minimum=2, maximum=60),
        "options": f"-c statement_timeout={env_int('ATOM_DB_STATEMENT_TIMEOUT_MS', 30_000, minimum=0)}",
        # A connection already open when the network starts dropping packets: the server never sees the
        # statement, so its timeout never fires. The kernel gives up on data left unacknowledged this
        # long (libpq's tcp_user_timeout) and keepalives find an idle peer gone, so the query fails
        # instead of waiting for TCP's own quarter of an hour.
        "tcp_user_timeout": env_int("ATOM_DB_TCP_USER_TIMEOUT_MS", 10_000, minimum=0),
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        # The statements every governed request runs are prepared once per connection (atom.prepared asks
        # for it on its own cursors; Django's client-binding cursors never prepare, whatever the
        # threshold). A pooler that cannot keep prepared statements (PgBouncer in transaction mode before
        # 1.21) needs ATOM_DB_PREPARE=0.
        "prepare_threshold": 2**31 - 1 if env_bool("ATOM_DB_PREPARE", True) else None,
    }
else:
    _database = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": SQLITE_PATH,
        "OPTIONS": {
            # WAL lets the web server read while the worker writes; IMMEDIATE takes the write lock at
            # BEGIN so two writers queue on the busy timeout instead of failing with "database is locked".
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("ATOM_SQLITE_TIMEOUT", 20, minimum=1),
        },
        # A file, not memory: a Celery worker started by a test must see the same database.
        "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
    }
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits, governance decisions) ----------------------------------------------
REDIS_URL = env_str("REDIS_URL")
# Bounded waits on Redis, for the cache and the broker alike: connecting, and each reply. The broker's
# read timeout is longer because a worker's blocking poll of the queue is itself a read.
ATOM_REDIS_CONNECT_TIMEOUT = env_float("ATOM_REDIS_CONNECT_TIMEOUT", 2.0, minimum=0.1, maximum=60.0)
ATOM_REDIS_SOCKET_TIMEOUT = env_float("ATOM_REDIS_SOCKET_TIMEOUT", 2.0, minimum=0.1, maximum=60.0)
ATOM_REDIS_BROKER_SOCKET_TIMEOUT = env_float("ATOM_REDIS_BROKER_SOCKET_TIMEOUT", 10.0, minimum=1.0, maximum=300.0)
CACHE_KEY_PREFIX = env_str("ATOM_CACHE_PREFIX", "atom")
if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "atom.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {"socket_connect_timeout": ATOM_REDIS_CONNECT_TIMEOUT, "socket_timeout": ATOM_REDIS_SOCKET_TIMEOUT},
        }
    }
elif TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "atom-test"}}
else:
    # Shared by the web server and the worker of one machine; counts are approximate under races,
    # which the embedded mode accepts and start-up says (see atom.apps).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
SHARED_CACHE = CACHES["default"]["BACKEND"].endswith("RedisCache")
SILENCED_SYSTEM_CHECKS = [
    # django-ratelimit lists only django-redis as supported; Django's own RedisCache increments
    # atomically with INCR, which is all the limiter needs.
    "django_ratelimit.W001",
]
if not SHARED_CACHE and not PRODUCTION:
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# --- Authentication ---------------------------------------------------------------------------
# Django's model backend, except that demo accounts cannot sign in in production.
AUTHENTICATION_BACKENDS = ["accounts.backends.AtomModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

JWT_SIGNING_KEY = env_str("ATOM_JWT_SIGNING_KEY", "" if PRODUCTION else DEFAULT_JWT_SIGNING_KEY)
JWT_ACCESS_MINUTES = env_int("ATOM_JWT_ACCESS_MINUTES", 10, minimum=1)
SIMPLE_JWT: dict[str, Any] = {
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "VERIFYING_KEY": "",
    "AUDIENCE": env_str("ATOM_JWT_AUDIENCE", "atom-api"),
    "ISSUER": env_str("ATOM_JWT_ISSUER", "atom"),
    "LEEWAY": env_int("ATOM_JWT_LEEWAY_SECONDS", 5, minimum=0, maximum=60),
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=JWT_ACCESS_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env_int("ATOM_JWT_REFRESH_HOURS", 24, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "TOKEN_OBTAIN_SERIALIZER": "accounts.api.serializers.StampedTokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.api.serializers.StampedRefreshSerializer",
}

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api.authentication.StampedJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "governance.api.permissions.AgentPrincipalIsActive",
    ],
    "DEFAULT_PARSER_CLASSES": ["atom.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + ([] if PRODUCTION else ["rest_framework.renderers.BrowsableAPIRenderer"]),
    "DEFAULT_PAGINATION_CLASS": "atom.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["atom.api.ratelimit.WriteRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "atom.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_MAX_PAGE_SIZE = 200
SPECTACULAR_SETTINGS = {
    "TITLE": "Atom API",
    "DESCRIPTION": "Governed AI agents, episodic memory and the production-hardening loop.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    # Fields named alike in several apps get distinct enum names.
    "ENUM_NAME_OVERRIDES": {"CanvasKindEnum": "governance.models.CanvasKind", "BugStatusEnum": "bugs.models.BugStatus"},
}

# --- Rate limits (django-ratelimit on the shared cache) ---------------------------------------
RATELIMIT_USE_CACHE = "default"
RATELIMIT_IP_META_KEY = "atom.ratelimit.client_ip"
ATOM_TRUSTED_PROXY_HEADER = env_str("ATOM_TRUSTED_PROXY_HEADER")
ATOM_LOGIN_RATE_PER_IP = env_str("ATOM_LOGIN_RATE_PER_IP", "30/m")
ATOM_LOGIN_RATE_PER_USERNAME = env_str("ATOM_LOGIN_RATE_PER_USERNAME", "10/m")
# The user state-changing management commands act as when --actor is not given (none by default).
ATOM_COMMAND_ACTOR = env_str("ATOM_COMMAND_ACTOR", "")
ATOM_WRITE_RATE_PER_USER = env_str("ATOM_WRITE_RATE_PER_USER", "600/m")

# --- Request limits ---------------------------------------------------------------------------
ATOM_MAX_BODY_BYTES = env_int("ATOM_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
ATOM_MAX_UPLOAD_BYTES = env_int("ATOM_MAX_UPLOAD_BYTES", 64 * 1024 * 1024, minimum=1024)
# The per-view limit is enforced by BodySizeLimitMiddleware; Django's own check is the hard ceiling.
DATA_UPLOAD_MAX_MEMORY_SIZE = ATOM_MAX_UPLOAD_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = ATOM_MAX_BODY_BYTES
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
ATOM_MAX_JSON_DEPTH = env_int("ATOM_MAX_JSON_DEPTH", 32, minimum=2, maximum=200)

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL or f"file://{VAR_DIR / 'celery' / 'results'}")
CELERY_VISIBILITY_TIMEOUT = env_int("ATOM_CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
CELERY_TASK_TIME_LIMIT = env_int("ATOM_CELERY_TASK_TIME_LIMIT", CELERY_VISIBILITY_TIMEOUT - 300, minimum=30)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("ATOM_CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_TIME_LIMIT - 60, minimum=10)
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured("Celery time limits must satisfy soft < hard < ATOM_CELERY_VISIBILITY_TIMEOUT.")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
# kombu's own filesystem transport hands consumers half-written messages (kombu issue 1551, BUG-081);
# the embedded broker is Atom's subclass of it, with atomic writes and claims (atom/broker.py).
ATOM_EMBEDDED_BROKER_TRANSPORT = "atom.broker:FilesystemTransport"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = ATOM_EMBEDDED_BROKER_TRANSPORT
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {
            "data_folder_in": str(_queue_dir),
            "data_folder_out": str(_queue_dir),
            "control_folder": str(VAR_DIR / "celery" / "control"),
            "processed_folder": str(VAR_DIR / "celery" / "processed"),
            "store_processed": False,
            # How often an idle worker looks for new messages (kombu's default is 1 s of pick-up latency).
            "polling_interval": env_float("ATOM_CELERY_FILESYSTEM_POLL_SECONDS", 0.1, minimum=0.01, maximum=10.0),
        }
    )
    if not PRODUCTION:
        for _folder in (_queue_dir, VAR_DIR / "celery" / "control", VAR_DIR / "celery" / "processed"):
            _folder.mkdir(parents=True, exist_ok=True)
# The file result store needs its folder whatever the broker (Redis as broker, files for results).
if CELERY_RESULT_BACKEND.startswith("file://") and not PRODUCTION:
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
# Sending a task is bounded: a few quick retries on the broker and the result store, short socket
# timeouts, then a circuit breaker (atom/celery.py) that fails sends at once for a while after
# repeated failures, so an outage answers 503 fast instead of holding every web worker (BUG-023).
_SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_PUBLISH_RETRY_POLICY = _SEND_RETRY_POLICY
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS: dict[str, Any] = {"retry_policy": _SEND_RETRY_POLICY}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = ATOM_REDIS_CONNECT_TIMEOUT
CELERY_REDIS_SOCKET_TIMEOUT = ATOM_REDIS_BROKER_SOCKET_TIMEOUT
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        {"socket_connect_timeout": ATOM_REDIS_CONNECT_TIMEOUT, "socket_timeout": ATOM_REDIS_BROKER_SOCKET_TIMEOUT}
    )
ATOM_BROKER_BREAKER_FAILURES = env_int("ATOM_BROKER_BREAKER_FAILURES", 3, minimum=1)
ATOM_BROKER_BREAKER_RESET_SECONDS = env_int("ATOM_BROKER_BREAKER_RESET_SECONDS", 30, minimum=1)
CELERY_TASK_DEFAULT_QUEUE = env_str("ATOM_CELERY_QUEUE", "celery")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celery" / "beat-schedule")
# Makes the schedule's folder at start-up whatever the broker (BUG-082).
CELERY_BEAT_SCHEDULER = "atom.beat:PersistentScheduler"

# --- Health (atom/health.py) --------------------------------------------------------------------
# /healthz answers within this time whatever the services do; the deep check is for operators with
# the health permission or this token (X-Atom-Health-Token header; empty = no token accepted).
ATOM_HEALTH_TIMEOUT_SECONDS = env_float("ATOM_HEALTH_TIMEOUT_SECONDS", 1.5, minimum=0.2, maximum=10.0)
ATOM_HEALTH_TOKEN = env_str("ATOM_HEALTH_TOKEN")
# How often each Celery worker writes its heartbeat row (the admin lists workers seen in the last minute).
ATOM_WORKER_HEARTBEAT_SECONDS = env_float("ATOM_WORKER_HEARTBEAT_SECONDS", 15.0, minimum=0.5, maximum=50.0)

# --- Internationalisation, static files -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Security headers -------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_str("DJANGO_SECURE_PROXY_SSL_HEADER"):
        SECURE_PROXY_SSL_HEADER = (env_str("DJANGO_SECURE_PROXY_SSL_HEADER"), "https")

# --- Logging ----------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "atom.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env_str("ATOM_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Governance -------------------------------------------------------------------------------
GOVERNANCE_INITIAL_CONFIDENCE = env_float("ATOM_GOVERNANCE_INITIAL_CONFIDENCE", 0.4, minimum=0.0, maximum=0.4999)
GOVERNANCE_ACTION_RATE = env_str("ATOM_GOVERNANCE_ACTION_RATE", "60/h")
GOVERNANCE_DAILY_SPEND_CAP = env_str("ATOM_GOVERNANCE_DAILY_SPEND_CAP", "10.00")
GOVERNANCE_PROPOSAL_TTL_HOURS = env_int("ATOM_GOVERNANCE_PROPOSAL_TTL_HOURS", 24, minimum=1)
GOVERNANCE_GRADUATION_WINDOW = env_int("ATOM_GOVERNANCE_GRADUATION_WINDOW", 100, minimum=50)
GOVERNANCE_ACTION_MAP_CACHE_SECONDS = env_int("ATOM_GOVERNANCE_ACTION_MAP_CACHE_SECONDS", 300, minimum=1)
GOVERNANCE_CANVAS_SCRIPT_MAX_BYTES = env_int("ATOM_GOVERNANCE_CANVAS_SCRIPT_MAX_BYTES", 10 * 1024, minimum=1, maximum=10 * 1024)
GOVERNANCE_PROPOSAL_EXPIRY_INTERVAL_SECONDS = env_int("ATOM_GOVERNANCE_PROPOSAL_EXPIRY_INTERVAL_SECONDS", 300, minimum=10)

# --- Episodes ---------------------------------------------------------------------------------
# Segmentation (SPEC section 5): a new segment starts after a gap strictly longer than the gap, when
# the topic similarity to the running segment falls below the threshold, or when a segment is full.
EPISODES_SEGMENT_GAP_SECONDS = env_int("ATOM_EPISODES_SEGMENT_GAP_SECONDS", 30 * 60, minimum=1)
EPISODES_TOPIC_SIMILARITY = env_float("ATOM_EPISODES_TOPIC_SIMILARITY", 0.75, minimum=0.0, maximum=1.0)
EPISODES_SEGMENT_MAX_SIZE = env_int("ATOM_EPISODES_SEGMENT_MAX_SIZE", 200, minimum=1, maximum=100_000)
# "hashing" needs no download; "sentence" uses a sentence-transformers model when that package is installed.
EPISODES_EMBEDDER = env_choice("ATOM_EPISODES_EMBEDDER", "hashing", ("hashing", "sentence"))
EPISODES_EMBEDDING_DIM = env_int("ATOM_EPISODES_EMBEDDING_DIM", 256, minimum=16, maximum=4096)
EPISODES_SENTENCE_MODEL = env_str("ATOM_EPISODES_SENTENCE_MODEL", "all-MiniLM-L6-v2")
# Ingestion bounds: one request carries at most this many interactions of at most this many characters.
EPISODES_INGEST_MAX_BATCH = env_int("ATOM_EPISODES_INGEST_MAX_BATCH", 1000, minimum=1, maximum=10_000)
EPISODES_CONTENT_MAX_CHARS = env_int("ATOM_EPISODES_CONTENT_MAX_CHARS", 16_000, minimum=1)
EPISODES_METADATA_MAX_BYTES = env_int("ATOM_EPISODES_METADATA_MAX_BYTES", 4096, minimum=2)
# Lifecycle: an active episode idle this long is completed; decay after 90 days, archive after 180.
EPISODES_IDLE_COMPLETE_SECONDS = env_int("ATOM_EPISODES_IDLE_COMPLETE_SECONDS", 30 * 60, minimum=1)
EPISODES_DECAY_AFTER_DAYS = env_int("ATOM_EPISODES_DECAY_AFTER_DAYS", 90, minimum=1)
EPISODES_ARCHIVE_AFTER_DAYS = env_int("ATOM_EPISODES_ARCHIVE_AFTER_DAYS", 180, minimum=1)
EPISODES_CONSOLIDATE_SIMILARITY = env_float("ATOM_EPISODES_CONSOLIDATE_SIMILARITY", 0.85, minimum=0.0, maximum=1.0)
EPISODES_LIFECYCLE_INTERVAL_SECONDS = env_int("ATOM_EPISODES_LIFECYCLE_INTERVAL_SECONDS", 3600, minimum=60)
# Per-process cache of episode vectors for semantic search (bounded; least recently used agent evicted).
EPISODES_VECTOR_CACHE_MB = env_int("ATOM_EPISODES_VECTOR_CACHE_MB", 256, minimum=1)
# From this many episodes of one agent on, semantic search asks an approximate graph for candidates
# (rescored exactly) instead of scanning every vector; below it the scan is exact and fast.
EPISODES_ANN_MIN_ROWS = env_int("ATOM_EPISODES_ANN_MIN_ROWS", 20_000, minimum=0)

# --- Bugs -------------------------------------------------------------------------------------
# Projects: bugs, suites and runs of the project named here unless a request names another.
ATOM_DEFAULT_PROJECT = env_str("ATOM_DEFAULT_PROJECT", "atom")
# Where the worker keeps each project's clone (a bare mirror, fetched before each run) and run worktrees.
ATOM_PROJECTS_DIR = Path(env_str("ATOM_PROJECTS_DIR", str(VAR_DIR / "projects")))
# Local paths and file:// repositories are accepted only under these roots (none by default).
ATOM_REPOSITORY_ROOTS = [Path(p) for p in env_list("ATOM_REPOSITORY_ROOTS")]
# Named secrets for private repositories: ATOM_GIT_CREDENTIAL_<NAME>=<token>, referred to by name only.
ATOM_GIT_CREDENTIALS = {
    key.removeprefix("ATOM_GIT_CREDENTIAL_").lower(): value for key, value in os.environ.items() if key.startswith("ATOM_GIT_CREDENTIAL_")
}
# Every this many seconds the worker fetches each project that has a repository and links its default
# branch's "Fixes BUG-N" commits; 0 switches the schedule off (webhooks and the on-demand link still work).
ATOM_PROJECTS_LINK_INTERVAL_SECONDS = env_int("ATOM_PROJECTS_LINK_INTERVAL_SECONDS", 900, minimum=0)
# The largest push webhook body Atom reads (GitHub caps its payloads at 25 MB; a push names at most 20 commits).
ATOM_WEBHOOK_MAX_BYTES = env_int("ATOM_WEBHOOK_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
# Push webhooks carry no user: they are counted per client address (the providers send from a few).
ATOM_WEBHOOK_RATE_PER_IP = env_str("ATOM_WEBHOOK_RATE_PER_IP", "600/m")
ATOM_BUGS_DEFAULT_SUITE = env_str("ATOM_BUGS_DEFAULT_SUITE", "atom")
# Suite environments: venvs built from a suite's requirement files live under ATOM_ENVS_DIR/<hash>; pip
# gets ATOM_ENV_PIP_ARGS (shell words, e.g. "--no-index --find-links var/wheelhouse" for builds without network).
ATOM_ENVS_DIR = Path(env_str("ATOM_ENVS_DIR", str(VAR_DIR / "envs")))
ATOM_ENV_PIP_ARGS = env_str("ATOM_ENV_PIP_ARGS", "")
ATOM_ENV_BUILD_TIMEOUT = env_int("ATOM_ENV_BUILD_TIMEOUT", 900, minimum=10)
# Proofs (a linked test fails at its fix's parent, passes at the fix): how many run at once, and the shared
# test helpers brought from the fix commit with the test files (globs of the repository, comma-separated).
ATOM_PROOF_WORKERS = env_int("ATOM_PROOF_WORKERS", 4, minimum=1)
ATOM_PROOF_HELPERS = env_list("ATOM_PROOF_HELPERS") or [
    "conftest.py", "atom/testing.py", "*/tests/factories.py", "*/tests/conftest.py", "tests/security/schema.py",
    "tests/__init__.py", "tests/security/__init__.py",
]  # fmt: skip
# Where each shard attempt writes its JUnit XML, report log and progress file.
ATOM_BUGS_ARTIFACTS_DIR = Path(env_str("ATOM_BUGS_ARTIFACTS_DIR", str(VAR_DIR / "bugs" / "runs")))
# A running shard's claim lasts this long unless its worker heartbeats; the reaper frees expired ones.
ATOM_BUGS_LEASE_SECONDS = env_int("ATOM_BUGS_LEASE_SECONDS", 60, minimum=2, maximum=3600)
ATOM_BUGS_MAX_ATTEMPTS = env_int("ATOM_BUGS_MAX_ATTEMPTS", 3, minimum=1, maximum=10)
ATOM_BUGS_MAX_SHARDS = env_int("ATOM_BUGS_MAX_SHARDS", 16, minimum=1, maximum=256)
ATOM_BUGS_MAX_NODE_IDS = env_int("ATOM_BUGS_MAX_NODE_IDS", 100_000, minimum=1)
ATOM_BUGS_IMPORT_MAX_BYTES = env_int("ATOM_BUGS_IMPORT_MAX_BYTES", 64 * 1024 * 1024, minimum=1024)
ATOM_BUGS_REAP_INTERVAL_SECONDS = env_int("ATOM_BUGS_REAP_INTERVAL_SECONDS", 60, minimum=5)
# A scheduled run of the default suite every this many seconds; 0 switches the schedule off.
ATOM_BUGS_SCHEDULED_RUN_SECONDS = env_int("ATOM_BUGS_SCHEDULED_RUN_SECONDS", 0, minimum=0)

# A test's flake rate is taken over its latest this many runs (the admin's flaky-test page).
ATOM_BUGS_FLAKY_WINDOW = env_int("ATOM_BUGS_FLAKY_WINDOW", 30, minimum=2, maximum=1000)

# --- Notifications (notifications/) ------------------------------------------------------------
# Mail goes through Django's email backend: a file per message under var/mail when embedded, SMTP when
# EMAIL_HOST is set (or any backend named by DJANGO_EMAIL_BACKEND).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=120)
EMAIL_BACKEND = env_str(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("ATOM_NOTIFY_FROM_EMAIL", "atom@localhost")
# Webhooks go only to public addresses; these hosts (names or IP addresses) and networks (CIDR) are let
# through all the same, e.g. an internal chat server. Empty: public addresses only.
ATOM_NOTIFY_ALLOWED_HOSTS = env_list("ATOM_NOTIFY_ALLOWED_HOSTS")
ATOM_NOTIFY_WEBHOOK_TIMEOUT_SECONDS = env_float("ATOM_NOTIFY_WEBHOOK_TIMEOUT_SECONDS", 5.0, minimum=0.5, maximum=60.0)
# A delivery that failed for a reason that may pass (a 5xx, a timeout) is tried again this many times,
# after 2, 4, 8… times this many seconds (with jitter, at most ten minutes apart).
ATOM_NOTIFY_MAX_RETRIES = env_int("ATOM_NOTIFY_MAX_RETRIES", 5, minimum=0, maximum=20)
ATOM_NOTIFY_BACKOFF_SECONDS = env_int("ATOM_NOTIFY_BACKOFF_SECONDS", 30, minimum=1, maximum=3600)
# The time-driven events (SLA due soon or breached, proposals waiting, runs stuck) are looked for this often.
ATOM_NOTIFY_SCAN_SECONDS = env_int("ATOM_NOTIFY_SCAN_SECONDS", 60, minimum=5)
ATOM_NOTIFY_SLA_WARNING_HOURS = env_int("ATOM_NOTIFY_SLA_WARNING_HOURS", 2, minimum=1, maximum=168)
ATOM_NOTIFY_PROPOSAL_WAIT_MINUTES = env_int("ATOM_NOTIFY_PROPOSAL_WAIT_MINUTES", 30, minimum=1)

# --- Periodic tasks (Celery beat) -------------------------------------------------------------
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "governance-proposals-expire": {
        "task": "governance.proposals_expire",
        "schedule": float(GOVERNANCE_PROPOSAL_EXPIRY_INTERVAL_SECONDS),
        "options": {"expires": float(GOVERNANCE_PROPOSAL_EXPIRY_INTERVAL_SECONDS)},
    },
    "episodes-lifecycle": {
        "task": "episodes.lifecycle",
        "schedule": float(EPISODES_LIFECYCLE_INTERVAL_SECONDS),
        # A run that could not start before the next one is due is dropped, never stacked.
        "options": {"expires": float(EPISODES_LIFECYCLE_INTERVAL_SECONDS)},
    },
    "bugs-reap-stale-runs": {
        "task": "bugs.reap_stale_runs",
        "schedule": float(ATOM_BUGS_REAP_INTERVAL_SECONDS),
        "options": {"expires": float(ATOM_BUGS_REAP_INTERVAL_SECONDS)},
    },
    "notifications-scan": {
        "task": "notifications.scan",
        "schedule": float(ATOM_NOTIFY_SCAN_SECONDS),
        "options": {"expires": float(ATOM_NOTIFY_SCAN_SECONDS)},
    },
}
if ATOM_PROJECTS_LINK_INTERVAL_SECONDS:
    CELERY_BEAT_SCHEDULE["bugs-projects-link-commits"] = {
        "task": "bugs.projects_link_commits",
        "schedule": float(ATOM_PROJECTS_LINK_INTERVAL_SECONDS),
        "options": {"expires": float(ATOM_PROJECTS_LINK_INTERVAL_SECONDS)},
    }
if ATOM_BUGS_SCHEDULED_RUN_SECONDS:
    CELERY_BEAT_SCHEDULE["bugs-scheduled-regression-run"] = {
        "task": "bugs.scheduled_regression_run",
        "schedule": float(ATOM_BUGS_SCHEDULED_RUN_SECONDS),
        "options": {"expires": float(ATOM_BUGS_SCHEDULED_RUN_SECONDS)},
    }

# --- Start-up refusals ------------------------------------------------------------------------
_problems = jwt_problems(
    secret_key=SECRET_KEY,
    signing_key=JWT_SIGNING_KEY,
    rotate=bool(SIMPLE_JWT["ROTATE_REFRESH_TOKENS"]),
    blacklist_installed="rest_framework_simplejwt.token_blacklist" in INSTALLED_APPS,
    access_minutes=JWT_ACCESS_MINUTES,
)
if PRODUCTION:
    _problems += production_problems(
        debug=DEBUG,
        secret_key=SECRET_KEY,
        signing_key=JWT_SIGNING_KEY,
        database_engine=str(DATABASES["default"]["ENGINE"]),
        caches=CACHES,
    )
if _problems:
    raise ImproperlyConfigured("Atom refuses to start:\n- " + "\n- ".join(_problems))
