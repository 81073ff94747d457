"""Periodic jobs of the card gateway (Celery beat, config/settings.py); each only calls a service.
No task ever takes card data as an argument."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def end_of_day() -> int:
    return len(services.end_of_day())


@shared_task(acks_late=True)
def expire_reservations() -> int:
    return services.expire_reservations()


@shared_task(acks_late=True)
def resolve_pending() -> int:
    return services.resolve_pending()
