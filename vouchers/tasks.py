from celery import shared_task

from . import services


@shared_task(acks_late=True)
def expire_vouchers() -> int:
    return services.expire_due()


@shared_task(acks_late=True)
def forget_receipt_seeds() -> int:
    return services.forget_receipt_seeds()
