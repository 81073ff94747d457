from celery import shared_task

from . import customers, idempotency, ledger, pins


@shared_task(acks_late=True)
def rollup_hot_balances() -> int:
    return ledger.rollup_hot_balances()


@shared_task(acks_late=True)
def purge_idempotency_keys() -> int:
    return idempotency.purge_expired()


@shared_task(acks_late=True)
def purge_expired_pins() -> int:
    return pins.purge_expired()


@shared_task(acks_late=True)
def mark_inactive_wallets() -> int:
    return customers.mark_inactive_wallets()


# --- P2P transfers, withdrawals, automatic payments ----------------------------------------------


@shared_task(acks_late=True)
def run_automatic_payments() -> dict:
    """Beat, every few minutes: pays the automatic payments due (each period once at most)."""
    from . import autopay

    summary = autopay.run_due_payments()
    return {"paid": summary.paid, "retrying": summary.retrying, "failed": summary.failed}


@shared_task(acks_late=True)
def expire_operations() -> int:
    """Transfers and withdrawals left waiting for their PIN past their time expire."""
    from . import transfers, withdrawals

    return transfers.expire_transfers() + withdrawals.expire_withdrawals()
