"""Settings for Arena, read from environment variables (see .env.example for the full list).

With nothing set, Arena runs embedded: SQLite and a file-system Celery broker under var/.
With DATABASE_URL and REDIS_URL set, it runs on PostgreSQL and Redis.
"""

import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from arena.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ARENA_VAR_DIR") or BASE_DIR / "var")
# Folders the processes write to: made when Django starts (arena/apps.py), not when settings load.
DIRECTORIES: list[Path] = []


def _secret_key() -> str:
    """SECRET_KEY from the environment; in the embedded mode only, else one generated on first start
    and kept in var/ (the one thing settings write: the key must exist before anything runs)."""
    configured = env_str("SECRET_KEY")
    if configured:
        if configured.startswith("change-me") and not env_bool("DEBUG", False):
            raise ImproperlyConfigured(
                "SECRET_KEY is still the example's placeholder: set a long random value."
            )
        return configured
    if env_str("DATABASE_URL"):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DATABASE_URL set Arena runs as a server, whose key is set, not "
            "made up (each host would make its own): set SECRET_KEY to a long random value, e.g. the "
            "output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    key_file = VAR_DIR / "secret_key"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Written whole to a file of this process, then linked into place (atomic): processes starting
    # together all read the winner's key, complete, and none waits for another's write.
    draft = VAR_DIR / f".secret_key.{os.getpid()}"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_urlsafe(50))
    try:
        os.link(draft, key_file)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    key = key_file.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{key_file} is empty: delete it and start again.")
    return key


# Serving and voting run prepared statements on PostgreSQL (arena/rows.py); turn off behind a
# connection pooler in transaction mode.
ARENA_DB_PREPARED_STATEMENTS = env_bool("ARENA_DB_PREPARED_STATEMENTS", True)
SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # Django's admin with Arena's own site (arena/admin_site.py).
    "arena.apps.ArenaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "arena",
    "battles",
    "ratings",
    "judges",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "arena.availability.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "arena.middleware.CookieLanguageMiddleware",
    "arena.middleware.RequestBodyLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "arena.urls"
WSGI_APPLICATION = "arena.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "arena" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "arena.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
# SQLite, embedded or named by DATABASE_URL: web, worker and beat share the file. Wait for locks
# instead of failing, take the write lock at the start of a transaction so that two writers never
# deadlock mid-way (a read turned write would fail at once, whatever the timeout), and let readers
# go on while one writes (WAL).
SQLITE_OPTIONS = {
    "timeout": 30,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, waiting a moment for a restarting server (arena/db/postgresql/base.py).
        DATABASES["default"]["ENGINE"] = "arena.db.postgresql"
        # Sessions start in UTC, so Django need not SET TIME ZONE on each new connection (generation
        # workers open one per answer).
        # The only prepared statements are the serving and voting ones (arena/rows.py), written for
        # one plan each: planning them again on every run costs more than running them.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "options", "-c timezone=UTC -c plan_cache_mode=force_generic_plan"
        )
        # A server that does not answer at all (a host gone) fails a connection attempt in 2 s.
        DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 2)
    elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
    # Long-lived connections are checked before reuse, so a restarted database costs no failed request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DIRECTORIES.append(VAR_DIR)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "arena.sqlite3"),
            "OPTIONS": dict(SQLITE_OPTIONS),
        }
    }
# How long a new database connection keeps trying while the server restarts (PostgreSQL only).
DATABASE_CONNECT_WAIT_SECONDS = env_float("DATABASE_CONNECT_WAIT_SECONDS", 3.0, minimum=0.0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, locks, rate-limit counters ------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis cache, reusing its client (arena/cache.py).
            "BACKEND": "arena.cache.ArenaRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "arena",
            # Redis may vanish: a call fails within a second and the caller goes on without it
            # (arena/stores.py), instead of holding a voter's request.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "arena_cache",
            "KEY_PREFIX": "arena",
        }
    }

# --- Celery ----------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://localhost/"
if CELERY_BROKER_URL.startswith("filesystem://"):
    BROKER_DIR = VAR_DIR / "broker"
    DIRECTORIES += [BROKER_DIR / folder for folder in ("queue", "processed", "control")]
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
    # kombu's file-system transport, writing each message whole (arena/filesystem_broker.py).
    CELERY_BROKER_TRANSPORT = "arena.filesystem_broker:Transport"
else:
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
        # kombu's Redis transport with a fix for the worker's crash on reconnection (arena/broker.py).
        CELERY_BROKER_TRANSPORT = "arena.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Above the longest hard time limit, so a task still running is never handed to a second worker.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=60),
        "socket_connect_timeout": 2,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each worker holds at most this many tasks per thread beyond the ones it runs. Answers run for seconds
# or minutes and are acknowledged when done (acks_late): a worker holding more would keep a backlog of
# them from idle workers, and a ratings refresh would wait behind it (BENCHMARKS.md).
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT_SECONDS", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT_SECONDS", 660, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker waits for the broker as long as it takes (the default gives up after 100 tries).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# Queuing a task while the broker is away fails within about half a second; the caller goes on
# without it (arena/stores.py) and beat or the catch-up after reconnection does the work.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Endpoint calls get their own queue, so a backlog of answers never delays a ratings refresh.
# Calls to model endpoints (answers and probes) go to their own queue, served by many threads.
CELERY_TASK_ROUTES = {
    "battles.tasks.answer_generate_task": {"queue": "generation"},
    "battles.tasks.contender_probe_task": {"queue": "generation"},
    "judges.tasks.verdict_judge_task": {"queue": "generation"},
}
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Internationalisation --------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_NAME = "arena_language"
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True

# --- Static files (served by the app itself: no CDN) ------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or VAR_DIR / "static")
DIRECTORIES.append(STATIC_ROOT)
WHITENOISE_USE_FINDERS = True

# --- Security --------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Served over HTTPS by a TLS-terminating proxy that sets X-Forwarded-Proto: cookies are Secure, plain
# HTTP is redirected to HTTPS and browsers are told to use HTTPS only (HSTS). Off, the site is served
# over plain HTTP (and `manage.py check --deploy` says what that leaves open).
BEHIND_HTTPS_PROXY = env_bool("BEHIND_HTTPS_PROXY")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_HTTPS_PROXY else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BEHIND_HTTPS_PROXY
# The proxy may redirect plain HTTP itself (then false). The containers' health checks call the app
# directly over HTTP, never redirected.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", BEHIND_HTTPS_PROXY)
SECURE_REDIRECT_EXEMPT = [r"^health/"]
# Browsers that saw the site over HTTPS use only HTTPS for it for this long (sent over HTTPS only); 0
# sends no such header. Lower it while trying HTTPS out: a browser keeps it for the whole time.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if BEHIND_HTTPS_PROXY else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Asking browsers to ship the domain in their preload list is its owner's decision, not a default:
# `check --deploy`'s reminder of it (security.W021) is silenced.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
X_FRAME_OPTIONS = "DENY"

# --- Request bodies --------------------------------------------------------------------------------
# The largest request body accepted, in bytes: a larger one is answered 413 on its Content-Length before
# any of it is read, and a body sent without one (chunked) is refused as soon as it passes the limit.
# The staff bank upload has its own limit. Django's own check (on form fields) uses the same figure.
ARENA_REQUEST_MAX_BYTES = env_int("ARENA_REQUEST_MAX_BYTES", 1024 * 1024, minimum=1024)
ARENA_BANK_UPLOAD_MAX_BYTES = env_int("ARENA_BANK_UPLOAD_MAX_BYTES", 32 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ARENA_REQUEST_MAX_BYTES

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    # httpx logs every request with its full URL at INFO: too chatty for workers, and a URL may carry a key.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["arena.parsers.JSONParser"],
    # Public endpoints need no login; staff endpoints ask for a token (see the README).
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": ["arena.api.AnonymousThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("ARENA_API_ANONYMOUS_RATE", "600/min")},
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "arena.api.exception_handler",
    # ?format= chooses an export's format (JSON Lines, CSV, battle log), not a DRF renderer.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Arena API",
    "DESCRIPTION": (
        "Results of the arena (leaderboards, snapshots, matrices, contenders, questions, voted battles, "
        "vote exports), voting for other front ends, and staff operations. Errors always have the body "
        '{"error": {"status", "code", "message", "fields"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SORT_OPERATION_PARAMETERS": False,
    "ENUM_NAME_OVERRIDES": {
        "OutcomeEnum": "battles.models.Vote.Outcome",
        "VotedBoardEnum": ["raw", "style"],
        "JudgeBoardEnum": ["judge"],
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "arena.api.schema_with_errors",
        "arena.api.schema_tags_and_credentials",
    ],
}

# --- Arena -----------------------------------------------------------------------------------------
# Ready battles the pool keeps waiting for voters.
ARENA_POOL_TARGET = env_int("ARENA_POOL_TARGET", 20, minimum=0)
ARENA_POOL_REFILL_INTERVAL_SECONDS = env_float("ARENA_POOL_REFILL_INTERVAL_SECONDS", 10.0, minimum=1.0)
ARENA_RATINGS_REFRESH_INTERVAL_SECONDS = env_float(
    "ARENA_RATINGS_REFRESH_INTERVAL_SECONDS", 60.0, minimum=1.0
)
# Under a steady stream of votes, refreshes start at least this far apart (each takes in every vote
# of the gap): the board stays about a second behind without the worker refreshing back to back.
ARENA_RATINGS_REFRESH_MIN_GAP_SECONDS = env_float("ARENA_RATINGS_REFRESH_MIN_GAP_SECONDS", 1.0, minimum=0.0)
# Draw and serve battles with the synthetic contenders and questions of seed_arena / seed_votes. Off,
# so seeding a live arena never puts synthetic battles before real voters; load tests turn it on.
ARENA_SERVE_SEEDED = env_bool("ARENA_SERVE_SEEDED", False)
# Connect and read timeouts for model endpoints unless a contender sets its own request timeout.
ARENA_ENDPOINT_CONNECT_TIMEOUT_SECONDS = env_float(
    "ARENA_ENDPOINT_CONNECT_TIMEOUT_SECONDS", 10.0, minimum=0.1
)
ARENA_ENDPOINT_TIMEOUT_SECONDS = env_float("ARENA_ENDPOINT_TIMEOUT_SECONDS", 120.0, minimum=1.0)
# Largest answer body accepted from a non-streaming endpoint, and the longest answer kept (longer
# answers are cut there and marked as cut).
ARENA_ENDPOINT_MAX_RESPONSE_BYTES = env_int(
    "ARENA_ENDPOINT_MAX_RESPONSE_BYTES", 8 * 1024 * 1024, minimum=1024
)
ARENA_ANSWER_MAX_CHARS = env_int("ARENA_ANSWER_MAX_CHARS", 32_000, minimum=100)
# An answer shorter than this (stripped, reasoning apart) is a failed attempt, asked again with a new
# seed, never shown to voters. An empty answer always is; 0 or 1 checks nothing more.
ARENA_ANSWER_MIN_CHARS = env_int("ARENA_ANSWER_MIN_CHARS", 1, minimum=0)
# Retries of retryable endpoint failures: exponential backoff from the base, with jitter, capped.
ARENA_GENERATION_MAX_ATTEMPTS = env_int("ARENA_GENERATION_MAX_ATTEMPTS", 5, minimum=1)
ARENA_GENERATION_RETRY_BASE_SECONDS = env_float("ARENA_GENERATION_RETRY_BASE_SECONDS", 2.0, minimum=0.0)
ARENA_GENERATION_RETRY_MAX_SECONDS = env_float("ARENA_GENERATION_RETRY_MAX_SECONDS", 300.0, minimum=0.0)
# A running answer whose worker has been silent this long past its request timeout goes back to the queue.
ARENA_GENERATION_LEASE_MARGIN_SECONDS = env_float("ARENA_GENERATION_LEASE_MARGIN_SECONDS", 60.0, minimum=0.0)
# A contender failing this many times in a row is paused from battles and probed with a real request
# (its own parameters, streaming and timeout): first after PROBE_FIRST seconds, then at doubling waits
# up to PROBE_MAX; restored when a probe answers. Paused again within FLAP_WINDOW of a restore, it
# waits twice as long per flap in a row, up to COOLDOWN (see battles/services/health.py).
ARENA_CONTENDER_FAILURE_THRESHOLD = env_int("ARENA_CONTENDER_FAILURE_THRESHOLD", 5, minimum=1)
ARENA_CONTENDER_PROBE_FIRST_SECONDS = env_float("ARENA_CONTENDER_PROBE_FIRST_SECONDS", 5.0, minimum=0.1)
ARENA_CONTENDER_PROBE_MAX_SECONDS = env_float("ARENA_CONTENDER_PROBE_MAX_SECONDS", 20.0, minimum=0.1)
ARENA_CONTENDER_FLAP_WINDOW_SECONDS = env_float("ARENA_CONTENDER_FLAP_WINDOW_SECONDS", 600.0, minimum=0.0)
ARENA_CONTENDER_COOLDOWN_SECONDS = env_float("ARENA_CONTENDER_COOLDOWN_SECONDS", 300.0, minimum=1.0)
# Contenders with few votes are drawn more often: weight × (1 + boost) at 0 votes, fading to × 1 at
# ARENA_SAMPLING_BOOST_UNTIL_VOTES votes.
ARENA_SAMPLING_BOOST = env_float("ARENA_SAMPLING_BOOST", 3.0, minimum=0.0)
ARENA_SAMPLING_BOOST_UNTIL_VOTES = env_int("ARENA_SAMPLING_BOOST_UNTIL_VOTES", 100, minimum=1)
# Adaptive pairing (battles/pairing.py): draws favour the pairs where one more vote helps the ranking
# most (rank neighbours whose intervals overlap, contenders with wide intervals); "weighted" draws by
# weight alone, as before. EXPLORATION: the share of draws made by weight anyway; FLOOR_SHARE: the share
# given to pairs with fewer than PAIR_FLOOR votes while there are any; outside exploration, questions
# with fewer than QUESTION_FLOOR votes are drawn first.
ARENA_PAIRING = env_str("ARENA_PAIRING", "adaptive").lower()
if ARENA_PAIRING not in ("adaptive", "weighted"):
    raise ImproperlyConfigured(f"ARENA_PAIRING={ARENA_PAIRING!r} is not one of: adaptive, weighted.")
ARENA_PAIRING_EXPLORATION = env_float("ARENA_PAIRING_EXPLORATION", 0.2, minimum=0.0)
ARENA_PAIRING_FLOOR_SHARE = env_float("ARENA_PAIRING_FLOOR_SHARE", 0.2, minimum=0.0)
if ARENA_PAIRING_EXPLORATION > 1.0 or ARENA_PAIRING_FLOOR_SHARE > 1.0:
    _name = "ARENA_PAIRING_EXPLORATION" if ARENA_PAIRING_EXPLORATION > 1.0 else "ARENA_PAIRING_FLOOR_SHARE"
    raise ImproperlyConfigured(f"{_name}={globals()[_name]} is above the maximum of 1 (a share of draws).")
ARENA_PAIRING_PAIR_FLOOR = env_int("ARENA_PAIRING_PAIR_FLOOR", 5, minimum=0)
ARENA_PAIRING_QUESTION_FLOOR = env_int("ARENA_PAIRING_QUESTION_FLOOR", 3, minimum=0)
# Adaptive pairing takes the LLM judges' board as the prior of contenders the voters have not settled
# (a newcomer is paired near where the judges put it).
ARENA_PAIRING_JUDGE_PRIOR = env_bool("ARENA_PAIRING_JUDGE_PRIOR", True)
# The sweeper: lost answers back to the queue, battles whose answers never came retired.
ARENA_SWEEP_INTERVAL_SECONDS = env_float("ARENA_SWEEP_INTERVAL_SECONDS", 30.0, minimum=1.0)
ARENA_BATTLE_GENERATING_TIMEOUT_SECONDS = env_float(
    "ARENA_BATTLE_GENERATING_TIMEOUT_SECONDS", 900.0, minimum=10.0
)
# A battle served to a voter is held for them (out of the pool) while they can plausibly still vote:
# not voted on within this time, the sweeper returns it to the pool for someone else. Its older name,
# ARENA_SERVED_BATTLE_TTL_SECONDS, is read when this one is unset.
ARENA_BATTLE_HOLD_SECONDS = env_float(
    "ARENA_BATTLE_HOLD_SECONDS",
    env_float("ARENA_SERVED_BATTLE_TTL_SECONDS", 600.0, minimum=60.0),
    minimum=60.0,
)
# A loop of anonymous calls must not drain the pool: new holds (a battle served, or drawn for a
# voter) are limited per voter and per IP address each minute, an address holds at most this many
# battles not voted on (keep it below ARENA_POOL_TARGET), and new voters are limited per address.
ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER = env_int("ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER", 20, minimum=1)
ARENA_NEW_BATTLES_PER_MINUTE_PER_IP = env_int("ARENA_NEW_BATTLES_PER_MINUTE_PER_IP", 120, minimum=1)
ARENA_HELD_BATTLES_PER_IP = env_int("ARENA_HELD_BATTLES_PER_IP", 10, minimum=1)
ARENA_NEW_VOTERS_PER_MINUTE_PER_IP = env_int("ARENA_NEW_VOTERS_PER_MINUTE_PER_IP", 60, minimum=1)
# Trustworthy votes: a vote sooner than this after the battle was shown is refused politely, and
# votes are limited per voter and per IP address (per minute) and per voter per day.
ARENA_VOTE_MIN_SECONDS = env_float("ARENA_VOTE_MIN_SECONDS", 3.0, minimum=0.0)
# Leading zero bits of the proof of work each vote carries (battles/services/proof_of_work.py); 0: none.
ARENA_VOTE_POW_BITS = env_int("ARENA_VOTE_POW_BITS", 0, minimum=0)
ARENA_VOTES_PER_MINUTE_PER_VOTER = env_int("ARENA_VOTES_PER_MINUTE_PER_VOTER", 12, minimum=1)
ARENA_VOTES_PER_MINUTE_PER_IP = env_int("ARENA_VOTES_PER_MINUTE_PER_IP", 60, minimum=1)
ARENA_VOTES_PER_DAY_PER_VOTER = env_int("ARENA_VOTES_PER_DAY_PER_VOTER", 1000, minimum=1)
# An answer that names a model (its own or another's alias, battles/leaks.py) gives it away: such
# answers are kept out of battles unless this is on; votes on battles that showed one never count.
ARENA_SERVE_LEAKING_ANSWERS = env_bool("ARENA_SERVE_LEAKING_ANSWERS", False)
# Serve answers whose model the voter saw (revealed after a vote, read in browse mode): off, as a
# voter would know them again; on only to measure what that guard is worth.
ARENA_SERVE_RECOGNISABLE_ANSWERS = env_bool("ARENA_SERVE_RECOGNISABLE_ANSWERS", False)
# The integrity sweep (battles/services/integrity.py) scores the votes of the last
# ARENA_INTEGRITY_LOOKBACK_DAYS every ARENA_INTEGRITY_SWEEP_SECONDS and leaves out, without telling
# the voter, those scoring ARENA_INTEGRITY_THRESHOLD or more; its statistical tests flag at
# ARENA_INTEGRITY_P_VALUE. Above ARENA_ALERT_EXCLUDED_SHARE of the last hour's votes left out, staff
# are alerted (a wave of bad votes, or a signal gone wrong).
ARENA_INTEGRITY_ENABLED = env_bool("ARENA_INTEGRITY_ENABLED", True)
ARENA_INTEGRITY_SWEEP_SECONDS = env_float("ARENA_INTEGRITY_SWEEP_SECONDS", 60.0, minimum=5.0)
ARENA_INTEGRITY_LOOKBACK_DAYS = env_float("ARENA_INTEGRITY_LOOKBACK_DAYS", 14.0, minimum=0.01)
ARENA_INTEGRITY_THRESHOLD = env_float("ARENA_INTEGRITY_THRESHOLD", 1.0, minimum=0.1)
ARENA_INTEGRITY_P_VALUE = env_float("ARENA_INTEGRITY_P_VALUE", 1e-4, minimum=1e-12)
ARENA_ALERT_EXCLUDED_SHARE = env_float("ARENA_ALERT_EXCLUDED_SHARE", 0.1, minimum=0.0)
# Browse mode (/browse/): read any two models' answers with their names; named verdicts given there
# are kept apart and never counted. Off, the pages answer 404 and the links to them are not shown.
ARENA_BROWSE_ENABLED = env_bool("ARENA_BROWSE_ENABLED", True)
ARENA_BROWSE_VERDICTS_PER_MINUTE_PER_IP = env_int("ARENA_BROWSE_VERDICTS_PER_MINUTE_PER_IP", 10, minimum=1)
# Staff logins (the admin's login page): after this many failed logins for one username, or from one
# address, within the window (sliding), further attempts are refused without checking their password
# until the oldest failures leave it. Counted in PostgreSQL (arena.models.LoginAttempt), so the limits
# hold while Redis is away.
ARENA_ADMIN_LOGIN_FAILURES_ALLOWED = env_int("ARENA_ADMIN_LOGIN_FAILURES_ALLOWED", 5, minimum=1)
ARENA_ADMIN_LOGIN_WINDOW_SECONDS = env_int("ARENA_ADMIN_LOGIN_WINDOW_SECONDS", 900, minimum=1)
# Key of the hash stored instead of IP addresses; by default derived from SECRET_KEY.
ARENA_IP_HASH_KEY = (
    env_str("ARENA_IP_HASH_KEY") or hashlib.sha256(f"arena-ip:{SECRET_KEY}".encode()).hexdigest()
)
# Behind a reverse proxy, the client address is the last X-Forwarded-For entry the proxy added.
ARENA_TRUST_X_FORWARDED_FOR = env_bool("ARENA_TRUST_X_FORWARDED_FOR", BEHIND_HTTPS_PROXY)
# The public API lists voted battles (question, answers, names, verdict); off, those endpoints say so.
ARENA_API_PUBLIC_BATTLES = env_bool("ARENA_API_PUBLIC_BATTLES", True)
# The voted battles' answer texts, next to the models' names, for anyone (staff always get them): off,
# since a voter who read them would recognise those answers in later battles.
ARENA_API_PUBLIC_ANSWERS = env_bool("ARENA_API_PUBLIC_ANSWERS", False)
# Ratings: Bradley–Terry with a bootstrap of this many rounds (fixed seed: the same votes give the
# same intervals), centred on a mean of 1000 unless a contender (by name) is pinned to a value.
ARENA_BOOTSTRAP_ROUNDS = env_int("ARENA_BOOTSTRAP_ROUNDS", 1000, minimum=0)
ARENA_BOOTSTRAP_SEED = env_int("ARENA_BOOTSTRAP_SEED", 0, minimum=0)
ARENA_RATING_ANCHOR = env_str("ARENA_RATING_ANCHOR")
ARENA_RATING_ANCHOR_VALUE = env_float("ARENA_RATING_ANCHOR_VALUE", 1000.0)
# Contenders with fewer votes are shown as preliminary.
ARENA_PRELIMINARY_VOTES = env_int("ARENA_PRELIMINARY_VOTES", 100, minimum=0)
# A weak prior on the ratings: each contender's rating is a priori within about ±2 × this many points
# of the mean (a Gaussian of this standard deviation on the Elo scale). 0 (default) turns it off, and
# the board is the plain maximum-likelihood fit, the one compared with Chatbot Arena's; when it is on,
# each row also keeps that unregularised rating and interval (README: "Beyond the plain board").
ARENA_RATING_PRIOR_POINTS = env_float("ARENA_RATING_PRIOR_POINTS", 0.0, minimum=0.0)
# Style control (ratings/style.py): a second rating on every board with the answers' length and
# markdown held constant.
ARENA_STYLE_CONTROL = env_bool("ARENA_STYLE_CONTROL", True)
# Fragility: votes removed at most when looking for how many would swap two rank neighbours.
ARENA_FRAGILITY_MAX_VOTES = env_int("ARENA_FRAGILITY_MAX_VOTES", 1000, minimum=1)
# Decoding variance: rounds of the bootstrap over answer samples within questions (0: not computed).
ARENA_DECODING_ROUNDS = env_int("ARENA_DECODING_ROUNDS", 200, minimum=0)
# LLM judges (judges/): how often battles to judge are looked for (and lost calls queued again), how
# often the judge board is refitted, and how many wins a "much better" verdict counts as (Arena-Hard: 3).
ARENA_JUDGE_SCHEDULE_INTERVAL_SECONDS = env_float("ARENA_JUDGE_SCHEDULE_INTERVAL_SECONDS", 15.0, minimum=1.0)
ARENA_JUDGE_BOARD_INTERVAL_SECONDS = env_float("ARENA_JUDGE_BOARD_INTERVAL_SECONDS", 60.0, minimum=1.0)
ARENA_JUDGE_STRONG_WIN_WEIGHT = env_int("ARENA_JUDGE_STRONG_WIN_WEIGHT", 3, minimum=1)
# The judge board's weak prior, in rating points (0: off): on by default, so that a newcomer judged a
# handful of times gets a sane rating and interval (judges/services/board.py).
ARENA_JUDGE_RATING_PRIOR_POINTS = env_float("ARENA_JUDGE_RATING_PRIOR_POINTS", 200.0, minimum=0.0)
ARENA_VOTER_COOKIE_NAME = "arena_voter"
ARENA_VOTER_COOKIE_MAX_AGE_SECONDS = 2 * 365 * 24 * 3600
# Workers record a heartbeat this often (and touch ARENA_WORKER_HEARTBEAT_FILE, if set, for container
# health checks); the readiness endpoint counts a worker unseen for ARENA_WORKER_STALE_SECONDS as gone.
ARENA_WORKER_HEARTBEAT_SECONDS = env_float("ARENA_WORKER_HEARTBEAT_SECONDS", 10.0, minimum=1.0)
ARENA_WORKER_STALE_SECONDS = env_float("ARENA_WORKER_STALE_SECONDS", 60.0, minimum=2.0)

# --- Staff dashboard alerts ------------------------------------------------------------------------
# Votes are counted by hour and day for the dashboard this often (it shows them this late at most).
ARENA_VOTES_TALLY_INTERVAL_SECONDS = env_int("ARENA_VOTES_TALLY_INTERVAL_SECONDS", 60, minimum=5)
# Refused votes above this share of the votes of the last hour are an alert (from 20 votes on).
ARENA_ALERT_REJECTED_SHARE = env_float("ARENA_ALERT_REJECTED_SHARE", 0.25, minimum=0.0)
# GET /metrics answers a scraper sending "Authorization: Bearer <this>" (and staff, logged in or with
# their API token); empty: staff only.
ARENA_METRICS_TOKEN = env_str("ARENA_METRICS_TOKEN", "")
# Pairs of contenders with fewer votes than this are highlighted on the dashboard.
ARENA_DASHBOARD_FEW_PAIR_VOTES = env_int("ARENA_DASHBOARD_FEW_PAIR_VOTES", 10, minimum=1)
# No worker is heard from when none sent a heartbeat for this long.
ARENA_ALERT_WORKER_SILENT_SECONDS = env_int("ARENA_ALERT_WORKER_SILENT_SECONDS", 120, minimum=10)
# A contender is slow when 95% of its answers of the last day took longer than this.
ARENA_ALERT_SLOW_ANSWER_SECONDS = env_int("ARENA_ALERT_SLOW_ANSWER_SECONDS", 60, minimum=1)
# The leaderboard is stale when votes arrived and its newest snapshot is older than this.
ARENA_ALERT_SNAPSHOT_STALE_SECONDS = env_int("ARENA_ALERT_SNAPSHOT_STALE_SECONDS", 300, minimum=10)
ARENA_WORKER_HEARTBEAT_FILE = env_str("ARENA_WORKER_HEARTBEAT_FILE")
# Where the demo contenders' endpoint listens (started by `make run`).
ARENA_DEMO_ENDPOINT_URL = env_str("ARENA_DEMO_ENDPOINT_URL", "http://127.0.0.1:8001/v1")
