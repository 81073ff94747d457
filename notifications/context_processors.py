"""`portal_notices`: the signed-in customer's unread portal notices, for any page to show
(`{% include "notifications/_notices.html" %}`). Queried only if a template uses it."""

from django.utils.functional import SimpleLazyObject

from . import selectors


def notices(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"portal_notices": []}
    return {"portal_notices": SimpleLazyObject(lambda: list(selectors.unread_notices(user)))}
