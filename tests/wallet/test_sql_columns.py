"""wallet.sql.Columns: an instance built from a prepared statement's row is the one the ORM reads
(values, converted types, saved state), whether build fills __dict__ or falls back to __init__."""

import pytest
from django.db import connection
from django.db.models import signals
from phonenumber_field.phonenumber import PhoneNumber

from tests.factories import active_customer, wallet_of
from wallet import sql
from wallet.models import Account, User

pytestmark = pytest.mark.django_db


def built(model, pk):
    columns = sql.Columns(model, "t")
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT {columns.sql} FROM {model._meta.db_table} t WHERE t."id" = %s', [pk])
        return columns, columns.build(cursor.fetchone())


def columns_of(instance):
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


@pytest.mark.parametrize("model", [User, Account])
def test_a_built_instance_equals_the_orms_and_saves_as_an_update(model):
    user = active_customer(balance=12_345)
    pk = user.pk if model is User else wallet_of(user).pk
    columns, instance = built(model, pk)
    read = model.objects.get(pk=pk)

    assert columns_of(instance) == columns_of(read)
    assert {k: type(v) for k, v in columns_of(instance).items()} == {
        k: type(v) for k, v in columns_of(read).items()
    }
    assert (instance._state.adding, instance._state.db) == (False, "default")
    if model is User:
        assert isinstance(instance.phone, PhoneNumber)  # set through its descriptor, converted
        instance.first_name = "Milica"
        instance.save(update_fields=["first_name"])
        assert User.objects.get(pk=pk).first_name == "Milica"
    else:
        assert instance.owner_id == user.pk and instance.owner == user  # the foreign key resolves


def test_a_model_with_post_init_receivers_is_built_by_its_own_init():
    user = active_customer()
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    signals.post_init.connect(receiver, sender=User)
    try:
        _, instance = built(User, user.pk)
    finally:
        signals.post_init.disconnect(receiver, sender=User)
    assert seen == [user.pk] and instance.phone == user.phone
