import pytest
from django.contrib.auth.models import Group

from tests.factories import UserFactory


@pytest.fixture
def staff_in():
    """staff_in("finance") -> a staff user in that role group (roles come from wallet/roles.py)."""

    def make(*roles, **fields):
        user = UserFactory(is_staff=True, **fields)
        user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make
