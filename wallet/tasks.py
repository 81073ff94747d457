from celery import shared_task

from . import customers, idempotency, ledger


@shared_task(acks_late=True)
def rollup_hot_balances() -> int:
    return ledger.rollup_hot_balances()


@shared_task(acks_late=True)
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task(acks_late=True)
def mark_inactive_wallets() -> int:
    return customers.mark_inactive_wallets()
