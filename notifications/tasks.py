"""Celery tasks of the notifications app: thin wrappers around services (SMS, email) and webhooks.
All are idempotent and acknowledged late, so a worker killed mid-task hands the message to another
worker."""

from celery import shared_task

from . import relay, services, webhooks


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


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    return webhooks.deliver(delivery_id=delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def deliver_due_webhooks() -> int:
    return webhooks.deliver_due()
