"""Invariants of the card gateway, registered with wallet.integrity for `manage.py check_ledger`."""

from collections.abc import Iterator

from django.db import connection


def _rows(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _balance_sql(code: str) -> str:
    return (
        "SELECT a.currency, a.balance + COALESCE((SELECT SUM(d.amount) FROM wallet_balancedelta d"
        f" WHERE d.account_id = a.id), 0) FROM wallet_account a WHERE a.code = '{code}'"
    )


def payable_matches_unsettled() -> Iterator[str]:
    """card_merchant_payable holds exactly the captures less refunds that no batch has settled."""
    batches = dict(
        _rows("SELECT currency, MAX(last_movement_id) FROM acquiring_settlementbatch GROUP BY currency")
    )
    for currency, balance in _rows(_balance_sql("card_merchant_payable")):
        after = batches.get(currency, 0)
        ((unsettled,),) = _rows(
            "SELECT COALESCE(SUM(CASE WHEN kind = 'refund' THEN -amount ELSE amount END), 0)"
            " FROM acquiring_movement WHERE merchant_id IS NOT NULL AND currency = %s AND id > %s",
            [currency, after],
        )
        if balance != unsettled:
            yield f"card_merchant_payable {currency}: balance {balance}, unsettled card movements {unsettled}"


def clearing_matches_movements() -> Iterator[str]:
    """card_clearing is owed by the card schemes: minus every capture and top-up, plus refunds."""
    for currency, balance in _rows(_balance_sql("card_clearing")):
        ((expected,),) = _rows(
            "SELECT COALESCE(SUM(CASE WHEN kind = 'refund' THEN amount ELSE -amount END), 0)"
            " FROM acquiring_movement WHERE currency = %s",
            [currency],
        )
        if balance != expected:
            yield f"card_clearing {currency}: balance {balance}, card movements say {expected}"


def captures_match_movements() -> Iterator[str]:
    for public_id, captured, refunded, moved_in, moved_out in _rows(
        "SELECT t.public_id, t.captured_amount, t.refunded_amount,"
        " COALESCE(SUM(m.amount) FILTER (WHERE m.kind <> 'refund'), 0),"
        " COALESCE(SUM(m.amount) FILTER (WHERE m.kind = 'refund'), 0)"
        " FROM acquiring_cardtransaction t LEFT JOIN acquiring_movement m ON m.transaction_id = t.id"
        " GROUP BY t.id HAVING t.captured_amount <>"
        " COALESCE(SUM(m.amount) FILTER (WHERE m.kind <> 'refund'), 0)"
        " OR t.refunded_amount <>"
        " COALESCE(SUM(m.amount) FILTER (WHERE m.kind = 'refund'), 0) LIMIT 100"
    ):
        yield f"card {public_id}: captured {captured}/refunded {refunded}, movements {moved_in}/{moved_out}"


def settlement_chain_contiguous() -> Iterator[str]:
    for batch_id, first, expected in _rows(
        "SELECT b.id, b.first_movement_id, COALESCE(p.last_movement_id, 0) + 1"
        " FROM acquiring_settlementbatch b"
        " LEFT JOIN acquiring_settlementbatch p ON p.id = b.previous_id"
        " WHERE b.first_movement_id <> COALESCE(p.last_movement_id, 0) + 1 LIMIT 100"
    ):
        yield f"settlement batch {batch_id}: starts at movement {first}, the previous ends at {expected - 1}"


def register_checks() -> None:
    from wallet.integrity import register

    register("card payable equals unsettled card movements", payable_matches_unsettled)
    register("card clearing equals card movements", clearing_matches_movements)
    register("card captures and refunds equal their movements", captures_match_movements)
    register("settlement batches are contiguous (each movement settled once)", settlement_chain_contiguous)
