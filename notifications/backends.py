"""How a message leaves the platform: SMS backends (chosen by settings.SMS_BACKEND) and email
(Django's email backends, chosen by settings.EMAIL_BACKEND).

Each `send(...)` returns the provider's message id, or raises `DeliveryError` (permanent or not).
Only services.deliver() calls them, inside the delivering transaction.
"""

import abc
import logging
import smtplib
from email.utils import make_msgid
from functools import lru_cache

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.utils import DNS_NAME
from django.utils.module_loading import import_string

from .errors import DeliveryError
from .models import SmsMessage

log = logging.getLogger(__name__)


class SmsBackend(abc.ABC):
    """Sends one SMS and returns the provider's message id; raises DeliveryError on failure."""

    name = "sms"

    @abc.abstractmethod
    def send(self, *, to: str, body: str) -> str: ...


class ConsoleSmsBackend(SmsBackend):
    """Prints the message (development without a database store)."""

    name = "console"

    def send(self, *, to: str, body: str) -> str:
        print(f"SMS to {to}: {body}", flush=True)
        return ""


class OutboxSmsBackend(SmsBackend):
    """Keeps the message in the database (`SmsMessage`), shown at /dev/sms/; used by tests and the demo."""

    name = "outbox"

    def send(self, *, to: str, body: str) -> str:
        message = SmsMessage.objects.create(to=to, body=body)
        return f"outbox-{message.pk}"


class TwilioSmsBackend(SmsBackend):
    """Twilio's Programmable Messaging through the `twilio` package, with a timeout on every request.

    `http_client_class` is Twilio's HTTP client, built with `timeout=settings.TWILIO_TIMEOUT_SECONDS`;
    a test replaces it with a subclass of `twilio.http.HttpClient` that records the request.
    """

    name = "twilio"
    http_client_class = None  # twilio.http.http_client.TwilioHttpClient

    # Twilio answers these for a message that will never go through (invalid or unreachable number,
    # a number that replied STOP): retrying does not help. Everything else is retried.
    PERMANENT_STATUSES = {400, 404}

    def __init__(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        http_client_class = self.http_client_class or TwilioHttpClient
        self.from_number = settings.TWILIO_FROM_NUMBER
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            http_client=http_client_class(timeout=settings.TWILIO_TIMEOUT_SECONDS),
        )

    def send(self, *, to: str, body: str) -> str:
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            message = self.client.messages.create(to=to, from_=self.from_number, body=body)
        except TwilioRestException as exc:
            raise DeliveryError(
                f"twilio answered {exc.status} (code {exc.code}): {exc.msg}",
                permanent=exc.status in self.PERMANENT_STATUSES,
            ) from exc
        except (TwilioException, OSError) as exc:  # requests' timeouts and connection errors are OSErrors
            raise DeliveryError(f"twilio unreachable: {type(exc).__name__}: {exc}") from exc
        return message.sid or ""


SMS_BACKENDS = {
    "console": ConsoleSmsBackend,
    "outbox": OutboxSmsBackend,
    "twilio": TwilioSmsBackend,
}


@lru_cache(maxsize=4)
def _sms_backend(name: str, *config) -> SmsBackend:
    cls = SMS_BACKENDS.get(name) or import_string(name)
    return cls()


def sms_backend() -> SmsBackend:
    """The configured SMS backend: "console", "outbox", "twilio" or a dotted path to a class.
    Built once per configuration (Twilio's client keeps its HTTP connections)."""
    return _sms_backend(
        settings.SMS_BACKEND,
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN,
        settings.TWILIO_FROM_NUMBER,
        settings.TWILIO_TIMEOUT_SECONDS,
    )


def send_email(*, to: str, subject: str, body: str) -> str:
    """Sends a plain-text email through Django's configured backend; returns its Message-ID."""
    message_id = make_msgid(domain=str(DNS_NAME))
    message = EmailMessage(subject=subject, body=body, to=[to], headers={"Message-ID": message_id})
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"recipient refused: {exc.recipients}", permanent=True) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email not sent: {type(exc).__name__}: {exc}") from exc
    return message_id
