"""Celery tasks of the notifications app: thin wrappers around services (SMS, email) and webhooks.
All are idempotent and acknowledged late, so a worker killed mid-task hands the message to another
worker."""

from celery import shared_task
from django.conf import settings

from . import relay, services, webhooks

# The HTTP client's timeout bounds each read, not the whole answer: a merchant's server that
# sends its answer a byte at a time would hold a worker for as long as it liked, and outlive the
# attempt's lease (so that a second worker posted the event again). These limits bound the whole
# attempt, inside the lease (settings: lease > 3 x timeout): at the soft one the POST stops and a
# failed attempt is recorded; the hard one ends the worker's process, the lease then runs out.
# Enforced by the prefork pool, the one the workers run (docker-compose.yml).
WEBHOOK_SOFT_LIMIT = 2 * settings.WEBHOOK_TIMEOUT_SECONDS
WEBHOOK_HARD_LIMIT = 3 * settings.WEBHOOK_TIMEOUT_SECONDS


@shared_task(acks_late=True, ignore_result=True)
def deliver(notification_id: int) -> str:
    return services.deliver(notification_id=notification_id)


@shared_task(acks_late=True, ignore_result=True)
def deliver_batch(notification_ids: list[int]) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for pk in notification_ids:
        outcome = services.deliver(notification_id=pk)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@shared_task(ignore_result=True, expires=5)
def dispatch_ready() -> int:
    # What the workers' relays left on the urgent list (none running?), then the notices' batches.
    return relay.drain() + services.dispatch_ready()


@shared_task(acks_late=True, ignore_result=True)
def resend_unsent() -> int:
    return services.resend_unsent()


@shared_task(acks_late=True, ignore_result=True)
def purge_old() -> int:
    return services.purge_old()


@shared_task(
    acks_late=True, ignore_result=True, soft_time_limit=WEBHOOK_SOFT_LIMIT, time_limit=WEBHOOK_HARD_LIMIT
)
def deliver_webhook(delivery_id: int) -> str:
    return webhooks.deliver(delivery_id=delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def deliver_due_webhooks() -> int:
    return webhooks.deliver_due()
