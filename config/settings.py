"""One settings module, driven by environment variables with safe defaults.

With nothing set it runs on embedded defaults (SQLite, kombu's filesystem broker) so that
`make run` works on a bare machine. PostgreSQL and Redis are the production and test path.
`PLATFORM_ENV=production` refuses the development secret key and DEBUG.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

PLATFORM_ENV = env.str("PLATFORM_ENV", default="development")
if PLATFORM_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"PLATFORM_ENV must be development, test or production, not {PLATFORM_ENV!r}")
PRODUCTION = PLATFORM_ENV == "production"

DEV_SECRET_KEY = "dev-insecure-secret-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)

if PRODUCTION:
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("Production needs its own SECRET_KEY of at least 32 characters.")
    if DEBUG:
        raise ImproperlyConfigured("Production refuses to start with DEBUG on.")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("Production needs ALLOWED_HOSTS.")

INSTALLED_APPS = [
    "config.apps.BackOfficeAdminConfig",  # django.contrib.admin with an OTP site (see back office below)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "phonenumber_field",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "wallet",
    "tariffs",
    "notifications",
    "vouchers",
    "terminals",
    "merchants",
    "acquiring",
]

MIDDLEWARE = [
    "config.middleware.ApiMiddleware",  # /api/ goes down API_MIDDLEWARE instead (config/middleware.py)
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "wallet.middleware.ForcePasswordChangeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The JSON API's chain: what its authentication (token, API key, terminal signature, or a session
# with DRF's own CSRF check), its language and its headers need; none of the pages' CSRF cookie,
# messages, forced password change or admin lockout.
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if PRODUCTION:  # the app serves the collected static files (WhiteNoise); runserver does it in development
    MIDDLEWARE.insert(2, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Persistent connections: without them throughput falls to a third (see DESIGN.md).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that polls the socket first (config/postgresql).
    DATABASES["default"]["ENGINE"] = "config.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The demo runs web, worker and beat on one SQLite file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling, rate limits) ---------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Users -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "wallet.User"
PHONENUMBER_DEFAULT_REGION = env.str("PHONENUMBER_DEFAULT_REGION", default="RS")
PHONENUMBER_DB_FORMAT = "E164"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

if PLATFORM_ENV == "test":
    # Hashing a password with PBKDF2 takes a large part of a second; tests create many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Money -----------------------------------------------------------------------------------
PLATFORM_CURRENCY = env.str("PLATFORM_CURRENCY", default="RSD")
if PLATFORM_CURRENCY not in {"RSD", "MKD", "EUR"}:
    raise ImproperlyConfigured("PLATFORM_CURRENCY must be RSD, MKD or EUR.")
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)

# --- Customers -------------------------------------------------------------------------------
PIN_LENGTH = 6
PIN_VALID_SECONDS = env.int("PIN_VALID_SECONDS", default=300)
PIN_MAX_ATTEMPTS = 3  # wrong tries before the PIN is locked; a new PIN unlocks
PIN_COOLDOWN_SECONDS = env.int("PIN_COOLDOWN_SECONDS", default=60)
PIN_THROTTLE_FACTOR = 1
INACTIVE_AFTER_DAYS = env.int("INACTIVE_AFTER_DAYS", default=180)
# Registration only for mobile numbers of these regions (the operator's country by default).
CUSTOMER_PHONE_REGIONS = env.list("CUSTOMER_PHONE_REGIONS", default=[PHONENUMBER_DEFAULT_REGION])
LOGIN_URL = "wallet:login"
LOGIN_REDIRECT_URL = "wallet:dashboard"
LOGOUT_REDIRECT_URL = "wallet:login"
EMAIL_VERIFICATION_MAX_AGE_DAYS = 7

# --- Internationalisation --------------------------------------------------------------------
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("sr-latn", "Srpski"), ("mk", "Македонски"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Belgrade")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security --------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = 31536000 if PRODUCTION else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that an anonymous API call answers 401 with WWW-Authenticate.
        "wallet.auth.TokenAuthentication",  # DRF's, with a prepared look-up (wallet/auth.py)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.api.JsonNegotiation",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Payments platform API",
    "DESCRIPTION": "E-wallets, vouchers, terminal top-ups, merchant payments and card acquiring.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "merchants.models.PaymentRequest.Status",
        "AccountStatusEnum": "wallet.models.Account.Status",
    },
}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"  # one Redis client per channel (config/broker.py)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# On a lost broker connection a running task finishes its work (every task is idempotent: a
# redelivered one finds it done) rather than being cancelled half-way, e.g. after a webhook's POST
# but before its attempt is recorded. Said explicitly: Celery 6 changes the default.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "ledger-rollup-hot-balances": {
        "task": "wallet.tasks.rollup_hot_balances",
        "schedule": crontab(),  # every minute
    },
    "expire-payment-requests": {
        "task": "merchants.tasks.expire_payments",
        "schedule": crontab(),  # every minute
    },
    "mark-inactive-wallets": {
        "task": "wallet.tasks.mark_inactive_wallets",
        "schedule": crontab(hour=2, minute=30),
    },
    "purge-idempotency-keys": {
        "task": "wallet.tasks.purge_idempotency_keys",
        "schedule": crontab(minute=17),
    },
    "purge-expired-pins": {
        "task": "wallet.tasks.purge_expired_pins",
        "schedule": crontab(minute=23),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes announces itself at INFO in every process it starts in.
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Notifications (notifications/): SMS, email, portal notices ------------------------------
# SMS_BACKEND: "outbox" (kept in the database, shown at /dev/sms/ with DEBUG), "console" (printed),
# "twilio", or a dotted path to a class like notifications.backends.SmsBackend.
SMS_BACKEND = env.str("SMS_BACKEND", default="outbox")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
if SMS_BACKEND == "twilio" and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER):
    raise ImproperlyConfigured(
        "SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER."
    )
# Email: the console in development (tests switch to locmem by themselves), SMTP in production.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="PayWallet <no-reply@localhost>")
# The portal's public address, for links in messages (email verification).
PLATFORM_URL = env.str("PLATFORM_URL", default="http://127.0.0.1:8000")
if PRODUCTION:
    if SMS_BACKEND != "twilio":
        raise ImproperlyConfigured("Production sends real SMS: set SMS_BACKEND=twilio and TWILIO_*.")
    if not PLATFORM_URL.startswith("https://"):
        raise ImproperlyConfigured("Production needs PLATFORM_URL, the https:// address customers open.")
# Seconds to wait after each failed try; after the last one the notification is marked failed.
NOTIFICATIONS_RETRY_DELAYS = env.list(
    "NOTIFICATIONS_RETRY_DELAYS", cast=int, default=[30, 120, 600, 3600, 6 * 3600, 24 * 3600]
)
# A pending notification not delivered this long after it was due is re-enqueued by resend_unsent.
NOTIFICATIONS_RESEND_AFTER_SECONDS = env.int("NOTIFICATIONS_RESEND_AFTER_SECONDS", default=60)
# A security message (PIN, temporary password) not delivered within this time is given up.
NOTIFICATIONS_SECURITY_TTL_SECONDS = env.int("NOTIFICATIONS_SECURITY_TTL_SECONDS", default=15 * 60)
# Sent and failed messages are deleted this many days after they were written (pending ones never).
NOTIFICATIONS_RETENTION_DAYS = env.int("NOTIFICATIONS_RETENTION_DAYS", default=365)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("notifications.context_processors.notices")
CELERY_BEAT_SCHEDULE["notifications-purge-old"] = {
    "task": "notifications.tasks.purge_old",
    "schedule": crontab(hour=3, minute=40),  # daily, at a quiet hour
}
# Notices and receipts (not PINs) leave in batches, dispatched every second (notifications/services.py).
NOTIFICATIONS_BATCH_DISPATCH = env.bool("NOTIFICATIONS_BATCH_DISPATCH", default=True)
# PINs and webhooks leave a request through a Redis list that a thread of every Celery worker
# relays at once (notifications/relay.py); off, dispatch_ready drains that list every second.
NOTIFICATIONS_RELAY = env.bool("NOTIFICATIONS_RELAY", default=True)
CELERY_BEAT_SCHEDULE["notifications-dispatch-ready"] = {
    "task": "notifications.tasks.dispatch_ready",
    "schedule": 1.0,  # seconds
}
CELERY_BEAT_SCHEDULE["notifications-resend-unsent"] = {
    "task": "notifications.tasks.resend_unsent",
    "schedule": crontab(),  # every minute
}

# --- Webhooks to merchants (notifications/webhooks.py) ---------------------------------------
# Seconds to wait after each failed attempt (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 24 h, 24 h:
# about three days in all); after the last one the delivery is marked failed.
WEBHOOK_RETRY_DELAYS = env.list(
    "WEBHOOK_RETRY_DELAYS",
    cast=int,
    default=[5, 300, 1800, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600, 24 * 3600, 24 * 3600],
)
# requests' timeout (connecting, and between bytes of the answer).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# A worker that claims a delivery holds it this long; if it dies mid-attempt, another takes it after.
WEBHOOK_LEASE_SECONDS = env.int("WEBHOOK_LEASE_SECONDS", default=60)
if WEBHOOK_LEASE_SECONDS <= 3 * WEBHOOK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("WEBHOOK_LEASE_SECONDS must be well above WEBHOOK_TIMEOUT_SECONDS.")
# The sweep re-enqueues a due delivery only once it has waited this long for its own task.
WEBHOOK_SWEEP_AFTER_SECONDS = env.int("WEBHOOK_SWEEP_AFTER_SECONDS", default=30)
# Production posts to https:// only, and never to loopback, private or link-local addresses.
WEBHOOK_REQUIRE_HTTPS = env.bool("WEBHOOK_REQUIRE_HTTPS", default=PRODUCTION)
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=not PRODUCTION)
WEBHOOK_USER_AGENT = env.str("WEBHOOK_USER_AGENT", default="PayWallet-Webhooks/1.0")
CELERY_BEAT_SCHEDULE["notifications-deliver-due-webhooks"] = {
    "task": "notifications.tasks.deliver_due_webhooks",
    "schedule": crontab(),  # every minute
}

# --- Wallet operations and tariffs (wallet/transfers.py, withdrawals.py, autopay.py; tariffs/) ---
# A failed automatic payment (funds, limits, a blocked wallet) is retried once, this much later.
AUTOPAY_RETRY_AFTER_SECONDS = env.int("AUTOPAY_RETRY_AFTER_SECONDS", default=6 * 3600)
CELERY_BEAT_SCHEDULE["wallet-automatic-payments"] = {
    "task": "wallet.tasks.run_automatic_payments",
    "schedule": crontab(minute="*/10"),  # each period is paid once however often this fires
}
CELERY_BEAT_SCHEDULE["wallet-expire-operations"] = {
    "task": "wallet.tasks.expire_operations",
    "schedule": crontab(minute="*/5"),
}

# --- Terminals and vouchers (terminals/, vouchers/) -------------------------------------------
# Terminal signing secrets are derived from this key (never stored); vouchers' codes and lookup
# hashes from VOUCHER_SECRET_KEY. Empty: derived from SECRET_KEY. Set both in production, so that
# rotating SECRET_KEY does not invalidate every terminal and every unredeemed voucher.
TERMINAL_SECRET_KEY = env.str("TERMINAL_SECRET_KEY", default="")
VOUCHER_SECRET_KEY = env.str("VOUCHER_SECRET_KEY", default="")
TERMINAL_TIMESTAMP_WINDOW_SECONDS = 300  # a signed request is accepted within +/- 5 minutes
TERMINAL_TOPUP_MIN = env.int("TERMINAL_TOPUP_MIN", default=100)  # minor units (1.00)
TERMINAL_TOPUP_MAX = env.int("TERMINAL_TOPUP_MAX", default=10_000_000)  # 100,000.00; wallet limits apply too
TERMINAL_CHANGE_MAX = env.int("TERMINAL_CHANGE_MAX", default=100_000)  # largest change voucher (1,000.00)
# QVoucher's rule: a top-up to a phone with no wallet opens one (temporary password by SMS).
TERMINAL_TOPUP_OPENS_WALLET = env.bool("TERMINAL_TOPUP_OPENS_WALLET", default=True)
VOUCHER_FACE_VALUES = env.list("VOUCHER_FACE_VALUES", cast=int, default=[50_000, 100_000, 200_000, 500_000])
VOUCHER_VALID_DAYS = env.int("VOUCHER_VALID_DAYS", default=365)
CHANGE_VOUCHER_VALID_DAYS = env.int("CHANGE_VOUCHER_VALID_DAYS", default=90)
VOUCHER_REPRINT_HOURS = env.int("VOUCHER_REPRINT_HOURS", default=24)  # a retried sale prints the code again
VOUCHER_EXPIRY_ACCOUNT = "fee_revenue"  # the system account expired vouchers go back to
# Wrong voucher codes allowed per window, per customer, per client address and platform-wide.
VOUCHER_GUESS_WINDOW_SECONDS = env.int("VOUCHER_GUESS_WINDOW_SECONDS", default=900)
VOUCHER_GUESSES_PER_CUSTOMER = env.int("VOUCHER_GUESSES_PER_CUSTOMER", default=5)
VOUCHER_GUESSES_PER_IP = env.int("VOUCHER_GUESSES_PER_IP", default=20)
VOUCHER_GUESSES_GLOBAL = env.int("VOUCHER_GUESSES_GLOBAL", default=1000)
CELERY_BEAT_SCHEDULE["vouchers-expire"] = {
    "task": "vouchers.tasks.expire_vouchers",
    "schedule": crontab(hour=3, minute=10),
}
CELERY_BEAT_SCHEDULE["vouchers-forget-receipt-seeds"] = {
    "task": "vouchers.tasks.forget_receipt_seeds",
    "schedule": crontab(minute=40),  # hourly
}

# --- Back office: staff 2FA, brute force, roles, audit, sealing, reports (config/admin.py) -----
# The default admin site is config.admin.BackOfficeSite (an OTPAdminSite): password + TOTP
# (otp_totp.TOTPDevice) for every ModelAdmin registered on django.contrib.admin.site.
INSTALLED_APPS.append("axes")
# Axes first: it refuses a locked-out admin login before any password is checked.
AUTHENTICATION_BACKENDS = [
    "config.admin.AdminOnlyAxesBackend",  # axes.backends.AxesStandaloneBackend, admin logins only
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
# Axes guards the staff login only: customers (portal and app API, wallet.customers.authenticate_
# customer) have their own throttle per phone and per address (wallet/throttle.py), and must not
# be locked out of their money, nor write axes rows on every login. The handler below ignores
# logins outside /admin/, and AXES_ONLY_ADMIN_SITE lets non-admin requests through.
AXES_ONLY_ADMIN_SITE = True
AXES_HANDLER = "config.admin.AdminOnlyAxesHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]  # one account from one address
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_FORM_FIELD = "username"
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="PayWallet back office")
# Entries are sealed into the hash chain by this job (wallet/sealing.py); never inside ledger.post.
CELERY_BEAT_SCHEDULE["wallet-seal-ledger"] = {
    "task": "wallet.sealing.seal_ledger_task",
    "schedule": crontab(),  # every minute
}
# --- end of back office -----------------------------------------------------------------------

# --- Card acquiring (acquiring/; docs/card-gateway.md) ----------------------------------------
# The processor behind the gateway: the built-in simulated issuer, or a dotted path to a class
# with the methods of acquiring.processor.Processor.
ACQUIRING_PROCESSOR = env.str("ACQUIRING_PROCESSOR", default="acquiring.processor.SimulatedIssuer")
ACQUIRING_RESERVATION_HOURS = 168  # a PA not captured within this is reversed (expired)
# A transaction left `processing` this long (its process died) is treated as pending; one still
# unknown after ACQUIRING_PENDING_REVERSE_AFTER seconds is reversed at the issuer.
ACQUIRING_PENDING_GRACE_SECONDS = env.int("ACQUIRING_PENDING_GRACE_SECONDS", default=120)
ACQUIRING_PENDING_REVERSE_AFTER = env.int("ACQUIRING_PENDING_REVERSE_AFTER", default=3600)
ACQUIRING_TOPUP_MIN = env.int("ACQUIRING_TOPUP_MIN", default=10_000)  # 100.00
ACQUIRING_TOPUP_MAX = env.int("ACQUIRING_TOPUP_MAX", default=5_000_000)  # 50,000.00
# Staff told by email when a merchant's card payments are blocked by its risk limits.
ACQUIRING_RISK_ALERT_EMAILS = env.list("ACQUIRING_RISK_ALERT_EMAILS", default=["risk@localhost"])
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update(
    {
        "CardPaymentStatusEnum": "acquiring.models.CardTransaction.Status",
        "CardPaymentTypeEnum": "acquiring.models.CardTransaction.Kind",
    }
)
CELERY_BEAT_SCHEDULE["acquiring-end-of-day"] = {
    "task": "acquiring.tasks.end_of_day",
    "schedule": crontab(hour=22, minute=0),  # 22:00 in CELERY_TIMEZONE (Europe/Belgrade)
}
CELERY_BEAT_SCHEDULE["acquiring-expire-reservations"] = {
    "task": "acquiring.tasks.expire_reservations",
    "schedule": crontab(minute=5),  # hourly
}
CELERY_BEAT_SCHEDULE["acquiring-resolve-pending"] = {
    "task": "acquiring.tasks.resolve_pending",
    "schedule": crontab(minute="*/2"),
}
# --- end of card acquiring --------------------------------------------------------------------
