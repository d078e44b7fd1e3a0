"""The one settings module. Every value comes from an environment variable with a safe default.

With no variables set the site runs embedded: SQLite and DICOM files under ``var/``, and a Celery
worker fed through a broker on the filesystem. Every variable is listed in the README.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(envstr("DATA_DIR", str(BASE_DIR / "var"))).resolve()
DICOM_STORAGE_DIR = Path(envstr("DICOM_STORAGE_DIR", str(DATA_DIR / "dicom"))).resolve()


def _secret_key() -> str:
    """An explicit SECRET_KEY wins; otherwise one is made once and kept under DATA_DIR."""
    if key := envstr("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Web server and worker may start at the same moment: the first writes the key (to a
        # temporary name, then an atomic link, so nobody reads half a key); the other reads it.
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
USE_X_FORWARDED_HOST = envbool("USE_X_FORWARDED_HOST", False)
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
FORCE_SCRIPT_NAME = envstr("FORCE_SCRIPT_NAME") or None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "corsheaders",
    "accounts",
    "archive",
    "viewerconfig",
    "worklist",
    "dicomnet",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "ohifsite.edge.RefuseNulMiddleware",
    "accounts.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "accounts.middleware.SessionUserMiddleware",
    "accounts.middleware.HeaderAuthenticationMiddleware",
    "accounts.middleware.ShareLinkMiddleware",
    "accounts.middleware.AccessLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "archive.middleware.StorageUnavailableMiddleware",
]

ROOT_URLCONF = "ohifsite.urls"
WSGI_APPLICATION = "ohifsite.wsgi.application"

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
                "ohifsite.context_processors.site",
            ],
        },
    },
]

# Database: DATABASE_URL (postgres://user:pass@host:5432/name) or SQLite under DATA_DIR.
DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at the same time: wait for locks instead of failing,
    # take the write lock at BEGIN so two writers never deadlock upgrading a read lock, and let
    # readers run beside a writer (WAL). Connections are kept like PostgreSQL's
    # (DATABASE_CONN_MAX_AGE): opening one and setting it up cost about 1.5 ms per request.
    # Temporary tables and indexes in memory: on disk, SQLite made and deleted a file in TMPDIR
    # for every STOW request.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY;"
        ),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envbool(
    "DATABASE_PREPARED_STATEMENTS", True
):
    # Values sent apart from the SQL (server-side binding), which lets the statements that look
    # rows up by key (ingest, the cache builds, QIDO searches by UID) be prepared once per
    # connection and no longer planned on every request. Off behind a pooler in transaction
    # mode that cannot keep prepared statements (PgBouncer before 1.21).
    # psycopg prepares only inside ohifsite.prepared.prepared_statements (never on its own
    # after N runs: a generic plan for a wildcard search can be far slower than one made for
    # its pattern).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=2**31 - 1
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = envstr("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Outside DATA_DIR in the container image, where collectstatic runs at build time.
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(DATA_DIR / "static"))).resolve()
STATICFILES_DIRS = [BASE_DIR / "static"]

# Uploads larger than this are spooled to disk by Django instead of held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
DATA_UPLOAD_MAX_NUMBER_FILES = envint("UPLOAD_MAX_FILES", 1000)

# The archive's name in page titles, the worklist's top bar and the admin's header.
SITE_NAME = envstr("SITE_NAME", "DICOM archive")

# --- Worklist ------------------------------------------------------------------------------
# Largest file (or .zip) the worklist page accepts in one upload request.
UPLOAD_MAX_BYTES = envint("UPLOAD_MAX_BYTES", 2 * 1024**3)
WORKLIST_PAGE_SIZE = envint("WORKLIST_PAGE_SIZE", 50)
# Matches are counted exactly up to this many; past it PostgreSQL's estimate is shown.
WORKLIST_EXACT_COUNT_LIMIT = envint("WORKLIST_EXACT_COUNT_LIMIT", 1_000)

# --- Archive -------------------------------------------------------------------------------
# Same SOP Instance UID with different bytes: keep the stored one (like Orthanc's
# OverwriteInstances: false) unless this is on.
OVERWRITE_INSTANCES = envbool("OVERWRITE_INSTANCES", False)
# Flush each stored file and its folder to disk before its index row is committed (like
# Orthanc's SyncStorageArea); off trades that safety against a power cut for speed.
STORAGE_FSYNC = envbool("STORAGE_FSYNC", True)
# Deepest nesting of sequences a stored file may have; deeper is refused at ingest, since
# every reader after it (DICOM JSON, the caches, OHIF) walks sequences recursively.
INGEST_MAX_SEQUENCE_DEPTH = envint("INGEST_MAX_SEQUENCE_DEPTH", 64)
# Where instance files live: "filesystem" (DICOM_STORAGE_DIR, shared by every process) or
# "s3" (a bucket of any S3-compatible service; then DICOM_STORAGE_DIR only holds uploads on
# their way in, and web and worker hosts need no shared folder). Credentials come from the
# usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...).
STORAGE_BACKEND = envstr("STORAGE_BACKEND", "filesystem").lower()
if STORAGE_BACKEND not in ("filesystem", "s3"):
    raise ImproperlyConfigured("STORAGE_BACKEND must be filesystem or s3")
S3_ENDPOINT_URL = envstr("S3_ENDPOINT_URL")  # empty: AWS S3 itself
S3_BUCKET = envstr("S3_BUCKET")
S3_REGION = envstr("S3_REGION", "us-east-1")
S3_PREFIX = envstr("S3_PREFIX")  # prepended to every key, e.g. "archive/"
# Files larger than this go up in parts (multipart upload), this size each.
S3_MULTIPART_THRESHOLD = envint("S3_MULTIPART_THRESHOLD", 64 * 1024**2)
# Seconds to wait for the bucket before a request gets 503 (reads) or 0xA700 (stores).
S3_TIMEOUT = envint("S3_TIMEOUT", 10)
if STORAGE_BACKEND == "s3" and not S3_BUCKET:
    raise ImproperlyConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET")
# Build the metadata caches as instances arrive (like the Orthanc OHIF plugin's Preload);
# off, they are built on first request and kept.
PRELOAD = envbool("PRELOAD", True)
# Seconds a study must stay unchanged before its caches are built, so that a series arriving
# one instance at a time is processed once, not once per instance.
CACHE_BUILD_DELAY = envint("CACHE_BUILD_DELAY", 2)
# How much lower the Celery worker's CPU priority is than the web server's (nice(1)): on a
# busy machine cache builds give way to uploads and viewers, and a viewer that gets there
# first builds what it needs itself. 0: the same priority.
WORKER_NICE = envint("WORKER_NICE", 10)
if not 0 <= WORKER_NICE <= 19:
    raise ImproperlyConfigured(f"WORKER_NICE must be 0 to 19, not {WORKER_NICE}")
# A lossless HTJ2K copy of each image instance, made by the workers after its caches, kept
# beside the original (never replacing it) and sent to viewers that ask for HTJ2K: a prefix of
# each frame decodes to a lower resolution (RPCL), so a first image shows after a few KB.
RENDITIONS = envbool("RENDITIONS", False)
# Modalities that get one (empty: all); instances whose pixel data is smaller than
# RENDITION_MIN_BYTES (uncompressed) gain nothing worth a second file and are skipped.
RENDITION_MODALITIES = [m.upper() for m in envlist("RENDITION_MODALITIES")]
RENDITION_MIN_BYTES = envint("RENDITION_MIN_BYTES", 65536)
# Most frames one WADO-RS frames request may name (each at most once, none past the
# instance's last): a longer list is refused with 400.
FRAMES_MAX_PER_REQUEST = envint("FRAMES_MAX_PER_REQUEST", 1000)
# Largest side, in pixels, of WADO-RS thumbnails (study, series and instance).
THUMBNAIL_SIZE = envint("THUMBNAIL_SIZE", 128)

# --- QIDO-RS (archive/dicomweb/query.py, qido.py) -----------------------------------------
# Most results one search returns, and the number returned when the client gives no limit;
# a larger limit is clamped to it and the response carries a Warning header.
QIDO_MAX_LIMIT = envint("QIDO_MAX_LIMIT", 1000)
if QIDO_MAX_LIMIT < 1:
    raise ImproperlyConfigured("QIDO_MAX_LIMIT must be at least 1")

# --- STOW-RS, deletion, DICOM JSON links (archive/dicomweb/stow.py, dicomjson_links.py) ----
# Largest STOW-RS request body; checked on Content-Length and counted while reading (413).
STOW_MAX_BYTES = envint("STOW_MAX_BYTES", 4 * 1024**3)
# Most parts (instances) in one STOW-RS request: each is a temporary file and a parse, so ten
# thousand tiny parts cost half a minute; more gets 413, and the client sends several requests.
STOW_MAX_PARTS = envint("STOW_MAX_PARTS", 5000)
# OHIF's reject call (POST .../series/{se}/reject/113001^DCM) deletes the series, for admins.
DICOMWEB_ALLOW_REJECT = envbool("DICOMWEB_ALLOW_REJECT", True)
# Seconds a signed DICOM JSON link (OHIF's /viewer/dicomjson?url=...) stays valid.
DICOMJSON_LINK_MAX_AGE = envint("DICOMJSON_LINK_MAX_AGE", 600)

# --- DICOM network (dicomnet: the DIMSE listener and sends) --------------------------------
# This archive's AE title, and the port `manage.py dicom_listener` listens on (0: no listener).
DICOM_AE_TITLE = envstr("DICOM_AE_TITLE", "OHIFSITE")
DICOM_BIND = envstr("DICOM_BIND", "0.0.0.0")
DICOM_PORT = envint("DICOM_PORT", 11112)
# Listening processes on the one port (Linux hands each connection to one of them): Python
# runs one thread at a time per process, so this is how associations use several cores.
DICOM_LISTENER_PROCESSES = envint("DICOM_LISTENER_PROCESSES", 2)
# Associations each process serves at once; one more is rejected (transient: "local limit
# exceeded").
DICOM_MAX_ASSOCIATIONS = envint("DICOM_MAX_ASSOCIATIONS", 10)
# Off: only remote AEs registered in the admin may associate (calling AE title and address).
DICOM_ACCEPT_UNKNOWN_AES = envbool("DICOM_ACCEPT_UNKNOWN_AES", False)
# Seconds: association negotiation, waiting for a DIMSE message, network idle, connecting out.
DICOM_ACSE_TIMEOUT = envint("DICOM_ACSE_TIMEOUT", 30)
DICOM_DIMSE_TIMEOUT = envint("DICOM_DIMSE_TIMEOUT", 60)
DICOM_NETWORK_TIMEOUT = envint("DICOM_NETWORK_TIMEOUT", 60)
DICOM_CONNECTION_TIMEOUT = envint("DICOM_CONNECTION_TIMEOUT", 10)
# The largest PDU the listener takes (bytes; it tells each peer): fewer, larger PDUs cost
# pynetdicom less per instance; each is held in memory while it is read (4096 at least).
DICOM_MAX_PDU_SIZE = envint("DICOM_MAX_PDU_SIZE", 1024 * 1024)
if DICOM_LISTENER_PROCESSES < 1:
    raise ImproperlyConfigured("DICOM_LISTENER_PROCESSES must be 1 or more")
if DICOM_MAX_PDU_SIZE < 4096:
    raise ImproperlyConfigured("DICOM_MAX_PDU_SIZE must be 4096 bytes or more")
if not 0 <= DICOM_PORT <= 65535:
    raise ImproperlyConfigured("DICOM_PORT must be between 0 and 65535")
if not (1 <= len(DICOM_AE_TITLE) <= 16 and DICOM_AE_TITLE.isascii() and "\\" not in DICOM_AE_TITLE):
    raise ImproperlyConfigured("DICOM_AE_TITLE must be 1-16 ASCII characters without backslash")

# --- OHIF viewer (viewerconfig) -----------------------------------------------------------
# The pinned OHIF build (package.json), installed by scripts/setup.sh with npm ci.
OHIF_BUILD_DIR = Path(
    envstr("OHIF_BUILD_DIR", str(BASE_DIR / "node_modules" / "@ohif" / "app" / "dist"))
).resolve()
# Send COOP/COEP/CORP with the viewer so OHIF runs cross-origin isolated (SharedArrayBuffer);
# remote data sources must then answer with CORS (fetch) or CORP headers.
OHIF_CROSS_ORIGIN_ISOLATION = envbool("OHIF_CROSS_ORIGIN_ISOLATION", True)

# --- Cache ----------------------------------------------------------------------------------
# A Redis database shared by every web and worker process (e.g. redis://redis:6379/1; not the
# broker's database: clearing the cache empties it). With it, sessions and users with their
# roles are read from it instead of the database on each request, and rendered metadata and
# thumbnails are shared between processes. Without it, each process keeps its own memory cache
# and reads sessions and users from the database (they could not be forgotten everywhere).
CACHE_URL = envstr("CACHE_URL")
CACHE_KEY_PREFIX = envstr("CACHE_KEY_PREFIX", "ohifsite")
SHARED_CACHE = bool(CACHE_URL)
if SHARED_CACHE:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("CACHE_URL must be a redis:// URL")
    CACHES = {
        "default": {
            "BACKEND": "ohifsite.cache.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            # A Redis that hangs must not hold requests: past these seconds the cache is
            # treated as unreachable (ohifsite/cache.py) and the database answers instead.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery --------------------------------------------------------------------------------
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL") or envstr("REDIS_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = DATA_DIR / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT = "ohifsite.broker:Transport"  # kombu's, one fault fixed
    # A build whose worker was killed goes back to the queue after this many seconds (kombu
    # keeps it in Redis's "unacked" hash meanwhile); longer than any one cache build may take,
    # or a slow build would be handed to a second worker (harmless, builds are idempotent).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 900),
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "retry_on_timeout": True,
        "health_check_interval": 25,
    }
CELERY_TASK_DEFAULT_QUEUE = envstr("CELERY_QUEUE", "ohifsite")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery closes the database connection around every task unless told to reuse it; the
# worker's tasks keep theirs as requests do instead (ohifsite/celery.py).
CELERY_DB_REUSE_MAX = 2**31
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that loses its broker reconnects for as long as it takes, instead of exiting after
# 100 attempts; tasks it was running are given up (they come back, acknowledged late).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# A web request that cannot reach the broker gives up queueing a build within about a second
# (what is stored stays stored; the sweep below queues the build later).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
# The worker's own sweep (archive/sweep.py): every SWEEP_INTERVAL seconds, studies whose
# caches have been pending for SWEEP_PENDING_AFTER seconds are queued again and spooled
# request bodies older than SWEEP_SPOOL_AFTER seconds are deleted. 0 turns the sweep off.
SWEEP_INTERVAL = envint("SWEEP_INTERVAL", 300)
SWEEP_PENDING_AFTER = envint("SWEEP_PENDING_AFTER", 600)
SWEEP_SPOOL_AFTER = envint("SWEEP_SPOOL_AFTER", 6 * 3600)

# --- REST framework ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # A request through a share link runs as the link says, whatever else it carries.
        # The first class names the 401 challenge (WWW-Authenticate: Bearer, from both of
        # these), which browsers never answer with a password prompt, unlike Basic.
        "accounts.authentication.ShareLinkAuthentication",
        "accounts.authentication.BearerAuthentication",
        "accounts.authentication.SameOriginSessionAuthentication",
        "accounts.authentication.SwitchableBasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsReader"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

# --- Access: login, tokens, roles, headers (accounts/; README "Access and authentication") --
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = envstr("LOGIN_REDIRECT_URL", "/")
LOGOUT_REDIRECT_URL = "accounts:login"
AUTHENTICATION_BACKENDS = [
    "accounts.backends.CachedModelBackend",
    "accounts.oidc.OidcBackend",  # inert until OIDC_RP_CLIENT_ID is set
]
# Local Django accounts on the login page; with OIDC on, the page sends people to the provider
# and the local form stays reachable at /accounts/login/?local=1 while this is true.
LOCAL_LOGIN = envbool("LOCAL_LOGIN", True)
AUTH_BASIC = envbool("AUTH_BASIC", True)
# Seconds the user of a session cookie is remembered per process (accounts/sessionusers.py):
# logout and user or role changes reach the other processes within this time.
SESSION_USER_MEMO_SECONDS = envint("SESSION_USER_MEMO_SECONDS", 2)
AUTH_API_TOKENS = envbool("AUTH_API_TOKENS", True)
AUTH_OIDC_BEARER = envbool("AUTH_OIDC_BEARER", True)

# OpenID Connect (mozilla-django-oidc). Endpoints left empty are read from the issuer's
# /.well-known/openid-configuration on first use.
OIDC_OP_ISSUER = envstr("OIDC_OP_ISSUER").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = envstr("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = envstr("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = envstr("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = envstr("OIDC_OP_JWKS_ENDPOINT")
OIDC_OP_LOGOUT_ENDPOINT = envstr("OIDC_OP_LOGOUT_ENDPOINT")
OIDC_RP_CLIENT_ID = envstr("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = envstr("OIDC_RP_CLIENT_SECRET")
OIDC_RP_SCOPES = envstr("OIDC_RP_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = envstr("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_USE_PKCE = envbool("OIDC_USE_PKCE", True)
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # for RP-initiated logout (id_token_hint)
OIDC_TIMEOUT = envint("OIDC_TIMEOUT", 10)
OIDC_AUTHENTICATION_CALLBACK_URL = "accounts:oidc_callback"
OIDC_OP_LOGOUT_URL_METHOD = "accounts.oidc.provider_logout_url"
OIDC_USERNAME_CLAIM = envstr("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_ROLES_CLAIM = envstr("OIDC_ROLES_CLAIM", "groups")
OIDC_READER_GROUPS = envlist("OIDC_READER_GROUPS", "reader")
OIDC_UPLOADER_GROUPS = envlist("OIDC_UPLOADER_GROUPS", "uploader")
OIDC_ADMIN_GROUPS = envlist("OIDC_ADMIN_GROUPS", "admin")
OIDC_DEFAULT_ROLE = envstr("OIDC_DEFAULT_ROLE")
if OIDC_DEFAULT_ROLE not in ("", "reader", "uploader", "admin"):
    raise ImproperlyConfigured("OIDC_DEFAULT_ROLE must be empty, reader, uploader or admin")
OIDC_API_AUDIENCE = envlist("OIDC_API_AUDIENCE")  # empty: the client id
OIDC_JWKS_CACHE_SECONDS = envint("OIDC_JWKS_CACHE_SECONDS", 3600)
OIDC_TOKEN_CACHE_SECONDS = envint("OIDC_TOKEN_CACHE_SECONDS", 300)

# Browser security. HSTS is sent only on HTTPS requests; cookies are Secure when asked for.
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
# Load balancers and compose's healthcheck probe over plain HTTP. Matched against the path
# without its leading slash, which holds the prefix (FORCE_SCRIPT_NAME) when there is one.
SECURE_REDIRECT_EXEMPT = [r"(^|/)(healthz|livez)$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = envstr("SECURE_REFERRER_POLICY", "same-origin")
X_FRAME_OPTIONS = "SAMEORIGIN"
FRAME_ANCESTORS = envlist("FRAME_ANCESTORS")  # origins allowed to embed pages in an iframe
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", SESSION_COOKIE_SECURE)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("SESSION_COOKIE_AGE", 12 * 3600)
CORS_ALLOWED_ORIGINS = envlist("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_CREDENTIALS = envbool("CORS_ALLOW_CREDENTIALS", False)
CORS_EXPOSE_HEADERS = ["Content-Type", "Content-Length", "Content-Location", "Location"]
ACCESS_LOG = envbool("ACCESS_LOG", True)
# Identical repeats (same user, action, study, door, search) within this many seconds make one
# row: a viewer fetches hundreds of frames of a study it opened once.
ACCESS_LOG_REPEAT_SECONDS = envint("ACCESS_LOG_REPEAT_SECONDS", 60)
# Days the access log keeps rows; `manage.py purge_access_log` deletes older ones (0: keep all).
ACCESS_LOG_RETENTION_DAYS = envint("ACCESS_LOG_RETENTION_DAYS", 0)
if ACCESS_LOG_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("ACCESS_LOG_RETENTION_DAYS must be 0 (keep all) or more")

# Readers and uploaders in no project (accounts.projects) see every study ("all", a small
# site) or none ("none", a site where every study belongs to a project).
READERS_WITHOUT_PROJECT = envstr("READERS_WITHOUT_PROJECT", "all")
if READERS_WITHOUT_PROJECT not in ("all", "none"):
    raise ImproperlyConfigured("READERS_WITHOUT_PROJECT must be all or none")
# Who a user without a role should ask for one, shown on the 403 page (e.g. "the PACS team,
# extension 4321"); empty: "an administrator of this site".
ACCESS_CONTACT = envstr("ACCESS_CONTACT")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line_refusals": {"()": "accounts.logfilters.OneLineRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"filters": ["one_line_refusals"]}},
}

for _folder in (DATA_DIR, DICOM_STORAGE_DIR, Path(FILE_UPLOAD_TEMP_DIR)):
    _folder.mkdir(parents=True, exist_ok=True)
