"""The wallet's port to the tariffs: what an operation costs.

wallet imports no other app (DESIGN.md), yet a P2P transfer or a withdrawal carries the fee of its
tariff. tariffs/ registers its `quote` here when it loads (TariffsConfig.ready), as notifications/
registers its recorder in wallet.notify. The wallet's services call `quote(...)` themselves when
an operation is created, so no caller can pass a wrong fee, and record the tariff version used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Service codes of the wallet's own operations (the keys of their tariff plans).
P2P = "p2p"
WITHDRAWAL = "withdrawal"

Quoter = Callable[..., Any]
_quoter: Quoter | None = None


@dataclass(frozen=True)
class FeeQuote:
    amount: int
    currency: str
    payer_fee: int
    payee_fee: int
    tariff_version_id: int | None

    @property
    def fee(self) -> int:
        return self.payer_fee + self.payee_fee

    @property
    def total_debit(self) -> int:
        """What leaves the payer's wallet: the amount and the payer's fee."""
        return self.amount + self.payer_fee

    @property
    def payee_credit(self) -> int:
        """What the payee receives: the amount less the payee's fee."""
        return self.amount - self.payee_fee


def register(quoter: Quoter) -> None:
    global _quoter
    _quoter = quoter


def quote(
    *, service: str, amount: int, currency: str, params: dict | None = None, at: datetime | None = None
) -> FeeQuote:
    """The fee of `amount` for `service` under the tariff in force (tariffs.services.quote)."""
    if _quoter is None:
        raise RuntimeError("tariffs app is not installed: no fee quoter registered")
    found = _quoter(service=service, amount=amount, currency=currency, params=params, at=at)
    return FeeQuote(
        amount=amount,
        currency=currency,
        payer_fee=found.payer_fee,
        payee_fee=found.payee_fee,
        tariff_version_id=found.tariff_version_id,
    )
