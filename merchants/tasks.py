from celery import shared_task

from . import payments


@shared_task(acks_late=True)
def expire_payments() -> int:
    return payments.expire_payments()
