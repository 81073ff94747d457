"""The app API's token authentication (`Authorization: Token <key>`), as DRF's TokenAuthentication
does it, with its one look-up (token -> user) as a prepared statement instead of an ORM query: the
ORM spent more CPU building that query on every request than PostgreSQL spent answering it.

Nothing is cached: a deleted token (logout, password change) or a deactivated user stops working
at the next request, exactly as with DRF's class.

An operation whose first statement can read the token with its own rows (a payment's initiate and
confirm: merchants.api) saves the look-up's round trip: `key_of` takes the key from the header
without reading anything, the statement selects TOKEN_USER_SQL, `token_user` builds the pair
from its values, and `found` hands it to this class, which then authenticates as usual.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from config.prepared import as_saved

from .models import User
from .sql import Columns, Statements

_USER = Columns(User, "u")
# A statement's select list for the token `t` and its user `u` (token_user() builds them back).
TOKEN_USER_SQL = f't."created", {_USER.sql}'
TOKEN_USER_COLUMNS = 1 + len(_USER)
SQL = Statements(
    {
        "wallet_token_user": (
            "(text)",
            f"SELECT {TOKEN_USER_SQL} FROM authtoken_token t"
            ' JOIN wallet_user u ON u."id" = t."user_id" WHERE t."key" = $1',
        ),
    }
)


def user_of_token(cursor, key: str) -> tuple[User, Token] | None:
    SQL.execute(cursor, "wallet_token_user", [key])
    row = cursor.fetchone()
    return None if row is None else token_user(key, row)


def token_user(key: str, values) -> tuple[User, Token]:
    """The user and token of TOKEN_USER_SQL's values."""
    user = _USER.build(values[1:])
    token = Token(key=key, user_id=user.pk, created=values[0])
    as_saved(token)
    Token.user.field.set_cached_value(token, user)
    return user, token


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's TokenAuthentication (same header, same answers), one prepared statement, or none
    when the token was read with the operation's own rows (`found`)."""

    # (key, user, token) read by the operation; per request: DRF makes an instance for each
    found: tuple[str, User, Token] | None = None

    def key_of(self, request) -> str | None:
        """The key of a well-formed Token header, read nowhere yet; None for any other header
        (authenticate() then gives DRF's answer)."""
        auth = authentication.get_authorization_header(request).split()
        if len(auth) != 2 or auth[0].lower() != self.keyword.lower().encode():
            return None
        try:
            key = auth[1].decode()
        except UnicodeError:
            return None
        return key if _possible(key) else None

    def authenticate_credentials(self, key):
        from django.db import connection

        if not _possible(key):
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if self.found is not None and self.found[0] == key:
            found = self.found[1:]
        else:
            with connection.cursor() as cursor:
                found = user_of_token(cursor, key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token


def _possible(key: str) -> bool:
    return len(key) <= 40 and "\x00" not in key  # else no such token can exist
