"""The app API's token authentication (`Authorization: Token <key>`), as DRF's TokenAuthentication
does it, with its one look-up (token -> user) as a prepared statement instead of an ORM query: the
ORM spent more CPU building that query on every request than PostgreSQL spent answering it.

Nothing is cached: a deleted token (logout, password change) or a deactivated user stops working
at the next request, exactly as with DRF's class.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from config.prepared import as_saved

from .models import User
from .sql import Columns, Statements

_USER = Columns(User, "u")
SQL = Statements(
    {
        "wallet_token_user": (
            "(text)",
            f'SELECT t."created", {_USER.sql} FROM authtoken_token t'
            ' JOIN wallet_user u ON u."id" = t."user_id" WHERE t."key" = $1',
        ),
    }
)


def user_of_token(cursor, key: str) -> tuple[User, Token] | None:
    SQL.execute(cursor, "wallet_token_user", [key])
    row = cursor.fetchone()
    if row is None:
        return None
    user = _USER.build(row[1:])
    token = Token(key=key, user_id=user.pk, created=row[0])
    as_saved(token)
    Token.user.field.set_cached_value(token, user)
    return user, token


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's TokenAuthentication (same header, same answers), one prepared statement."""

    def authenticate_credentials(self, key):
        from django.db import connection

        if len(key) > 40 or "\x00" in key:  # no such token can exist
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        with connection.cursor() as cursor:
            found = user_of_token(cursor, key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token
