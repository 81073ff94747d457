import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from terminals import services as terminal_services
from tests.factories import WalletFactory
from vouchers import services
from vouchers.models import Voucher
from wallet.models import Account, User


@pytest.fixture
def agent(transactional_db):
    return terminal_services.create_agent(name="Kiosk Centar d.o.o.")


@pytest.fixture
def issue(agent):
    """issue(face_value, kind="prepaid") -> (voucher, code): sold by the agent, as a terminal would."""
    counter = iter(range(1, 10_000))

    def make(face_value=50_000, kind=Voucher.Kind.PREPAID, **fields) -> tuple[Voucher, str]:
        with transaction.atomic(durable=True):
            issued = services.issue(
                kind=kind,
                face_value=face_value,
                currency="RSD",
                debit_account=agent.account_id,
                reference=f"test-issue:{next(counter)}",
            )
        if fields:
            Voucher.objects.filter(pk=issued.voucher.pk).update(**fields)
            issued.voucher.refresh_from_db()
        return issued.voucher, issued.code

    return make


def customer(phone="+381641140001", **wallet_fields) -> tuple[User, Account]:
    user = User.objects.create_user(
        phone, "x-Sunce-42", first_name="Ana", last_name="Ilić", phone_verified_at=timezone.now()
    )
    wallet = WalletFactory(owner=user, status=Account.Status.ACTIVE, **wallet_fields)
    return user, wallet


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
