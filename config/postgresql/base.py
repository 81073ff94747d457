"""Django's PostgreSQL backend with transactions that cost fewer round trips (pipelined.py: BEGIN
sent with the first statement, deferred writes with the next one) and a health check that costs
no round trip on a busy connection.

CONN_HEALTH_CHECKS runs `SELECT 1` before the first query of every request that reuses a
persistent connection: one round trip per request on the hot path (about a tenth of a terminal
top-up's time). A connection the server closed while it sat idle between requests (a restart,
pg_terminate_backend, idle_session_timeout) has its socket readable: the server's FATAL message,
then EOF. So the socket is polled first, which costs no round trip, and `SELECT 1` runs only when
it has something to read. A connection that breaks in the middle of a request is not helped by
either check: Django marks it and closes it when the request ends (the client got a 503).
"""

import select

from django.db.backends.postgresql import base

from . import pipelined


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        # BEGIN with the first statement, deferred writes with the next one (pipelined.py).
        factories = {"connection_factory": pipelined.Connection, "cursor_factory": pipelined.Cursor}
        return super().get_new_connection({**conn_params, **factories})

    def close_if_health_check_failed(self):
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if self.connection.closed or _readable(self.connection):
            super().close_if_health_check_failed()
        self.health_check_done = True


def _readable(raw) -> bool:
    """True if the server has sent something to an idle connection (it only does when closing
    it, or for LISTEN notifications, which this project does not use), or the socket is gone."""
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True
