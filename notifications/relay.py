"""Messages wanted at once (PIN SMS, webhook deliveries) leave a request through a Redis list.

Publishing a Celery task costs the request about half a millisecond of CPU; one RPUSH costs a
seventh of that. So after commit a request pushes `n:<notification id>` or `w:<delivery id>` onto
`<queue>:urgent`, and the relay, a thread of every Celery worker (`Relay`, a worker bootstep),
waits on the list with BLPOP and publishes each item's task at once, to the queue it came for.
The beat job dispatch_ready (every second) drains the list as well, so without a relay running
a message waits a second at most.

Nothing is lost: an item's row is written and committed before it is pushed, a push that fails
and an item lost between pop and publish (a worker killed) leave the row pending, and the sweeps
(`resend_unsent`, `deliver_due`) enqueue it again, as they do after a failed publish. Where
there is no Redis broker, or Celery is eager (tests, tools), the task is published directly.

A payment's webhook and its receipt are two pushes after one commit: inside `together()` the
pushes of one transaction go to Redis in one pipeline, one round trip instead of one each.
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from functools import lru_cache, partial

from celery import bootsteps
from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger(__name__)

NOTIFICATION, WEBHOOK = "n", "w"
BATCH = 100  # items popped after the first one, per list and wake-up


def batched() -> bool:
    """Whether messages leave through Redis lists (this module, and the notices' batches of
    services.mark_ready): with a Redis broker and Celery not eager."""
    return route() is not None


def route():
    """(Redis client, default queue) where messages leave through Redis lists, else None.

    This runs for every message, and a look-up in Celery's configuration costs up to 20 us (a
    missing key is translated and looked for in Django's settings): the answer is kept per state
    of what can change it while the process runs, the values set on the app's configuration
    (`conf.changes`, a plain dict: tests and the benchmarks set the queue or eagerness there) and
    Django's batch-dispatch and broker settings. Django's other CELERY_* settings are read once."""
    from config.celery import app

    changes = app.conf.changes
    state = (
        settings.NOTIFICATIONS_BATCH_DISPATCH,
        changes.get("task_always_eager"),
        changes.get("task_default_queue"),
        changes.get("broker_write_url"),
        changes.get("broker_url"),
        settings.CELERY_BROKER_URL,
    )
    try:
        return _routes[state]
    except KeyError:
        pass
    conf = app.conf
    found = None
    if settings.NOTIFICATIONS_BATCH_DISPATCH and not conf.task_always_eager:
        url = _broker_url()
        if url.startswith("redis://"):
            found = (_redis(url), conf.task_default_queue)
    if len(_routes) > 64:  # a test suite's states, at most: never grows without bound
        _routes.clear()
    _routes[state] = found
    return found


_routes: dict[tuple, tuple | None] = {}


def redis_client():
    """The Redis of the Celery broker: the lists lie beside the queues they feed."""
    return _redis(_broker_url())


def _broker_url() -> str:
    from config.celery import app

    # broker_write_url first: where the app publishes (Celery's broker_url answers from Django's
    # CELERY_BROKER_URL even after the app was pointed elsewhere). It falls back to broker_url.
    return app.conf.broker_write_url or settings.CELERY_BROKER_URL


@lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def _publisher(kind: str):
    from . import services, webhooks

    return {NOTIFICATION: services.enqueue, WEBHOOK: webhooks.publish}.get(kind)


def urgent_key(queue: str | None = None) -> str:
    from config.celery import app

    return f"{queue or app.conf.task_default_queue}:urgent"  # beside the queue it feeds


def hand_over(kind: str, ids: Iterable[int]) -> int:
    """After commit: the rows' ids onto the urgent list in one RPUSH (or their tasks published,
    without a Redis broker). Returns how many; with Redis unreachable 0, the rows stay pending."""
    ids = list(ids)
    lists = route()
    if lists is None:
        return _publisher(kind)(ids)
    client, queue = lists
    return push([(client, urgent_key(queue), [f"{kind}:{pk}" for pk in ids])])


def hand_over_on_commit(kind: str, ids: list[int]) -> None:
    """hand_over(kind, ids) once the transaction commits (at once outside one)."""
    lists = route()
    if lists is None:
        transaction.on_commit(partial(hand_over, kind, ids), robust=True)
        return
    client, queue = lists
    push_on_commit(client, urgent_key(queue), [f"{kind}:{pk}" for pk in ids])


# together()'s pushes, per thread (as Django's connections): (the transaction's level when the
# block began, [(client, key, values), ...]).
_together = threading.local()


def _level() -> tuple:
    # An atomic block without a savepoint shows as None: an error in it fails its enclosing
    # savepoint or transaction, whose level it shares.
    return connection.in_atomic_block, tuple(sid for sid in connection.savepoint_ids if sid is not None)


@contextmanager
def together():
    """The pushes made in this block at its own transaction level go after commit in one Redis
    pipeline. A push inside a savepoint the block opened keeps its own on_commit, so that the
    savepoint's rollback drops it, as Django drops that savepoint's callbacks. Nested: the
    outermost block sends. A block left by an exception sends nothing, even if its transaction
    commits after all (the exception caught outside it): its rows stay pending for the sweeps."""
    if getattr(_together, "batch", None) is not None:
        yield
        return
    batch = _together.batch = (_level(), [])
    try:
        yield
    finally:
        _together.batch = None
    if batch[1]:  # the block ended without an error: its pushes go with the transaction's commit
        transaction.on_commit(partial(push, batch[1]), robust=True)


def push_on_commit(client, key: str, values: list) -> None:
    """RPUSH `values` onto `key` once the transaction commits (inside together(): with the
    block's other pushes)."""
    batch = getattr(_together, "batch", None)
    if batch is not None and batch[0] == _level():
        batch[1].append((client, key, values))
    else:
        transaction.on_commit(partial(push, [(client, key, values)]), robust=True)


def push(pushes: list) -> int:
    """RPUSHes now, [(client, key, values), ...] in one round trip (one client: route()'s);
    how many values went. With Redis unreachable it logs and returns 0: the rows stay pending
    for the sweeps."""
    try:
        if len(pushes) == 1:
            client, key, values = pushes[0]
            client.rpush(key, *values)
        else:
            pipeline = pushes[0][0].pipeline(transaction=False)
            for _client, key, values in pushes:
                pipeline.rpush(key, *values)
            pipeline.execute()
    except Exception as exc:  # noqa: BLE001 - the rows are safe in the database; the sweeps find them
        lost = {key: values for _client, key, values in pushes}
        log.warning("broker unreachable (%s: %s): %s stay pending", type(exc).__name__, exc, lost)
        return 0
    return sum(len(values) for _client, _key, values in pushes)


def relay_once(queues: Iterable[str], *, timeout: float = 1.0) -> int:
    """Waits up to `timeout` seconds for items on the urgent lists of `queues`, then publishes
    them with whatever else is waiting there. Returns how many were published."""
    client = redis_client()
    keys = [urgent_key(queue) for queue in queues]
    first = client.blpop(keys, timeout=timeout)
    if first is None:
        return 0
    items = [first]
    for key in keys:
        items += [(key, value) for value in client.lpop(key, BATCH) or []]
    return _publish(items)


def drain(*, limit: int = 5_000) -> int:
    """What waits on this process's urgent list, published now (dispatch_ready, every second)."""
    key = urgent_key()
    return _publish([(key, value) for value in redis_client().lpop(key, limit) or []])


def _publish(items) -> int:
    by_target: dict[tuple[str, str], list[int]] = defaultdict(list)
    for key, value in items:
        key, value = _text(key), _text(value)
        kind, _, pk = value.partition(":")
        if _publisher(kind) is None or not pk.isdigit():
            log.error("unknown item %r on %s: dropped", value, key)
            continue
        by_target[(key.removesuffix(":urgent"), kind)].append(int(pk))
    return sum(_publisher(kind)(ids, queue=queue) for (queue, kind), ids in by_target.items())


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


class Relay(bootsteps.StartStopStep):
    """A Celery worker bootstep: a thread that relays the urgent lists of the worker's queues for
    as long as the worker runs (Celery stops a worker's steps only after a complete start, so the
    thread also watches the worker's state)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def include_if(self, worker):
        return settings.NOTIFICATIONS_RELAY and batched()

    def start(self, worker):
        queues = sorted(worker.app.amqp.queues.consume_from or [worker.app.conf.task_default_queue])
        self.thread = threading.Thread(target=self._run, args=(worker, queues), name="relay", daemon=True)
        self.thread.start()

    def stop(self, worker):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    terminate = stop

    def _running(self, worker) -> bool:
        return not self.stopping.is_set() and worker.blueprint.state not in (
            bootsteps.CLOSE,
            bootsteps.TERMINATE,
        )

    def _run(self, worker, queues: list[str]) -> None:
        log.info("relaying the urgent lists of %s", ", ".join(queues))
        while self._running(worker):
            try:
                relay_once(queues, timeout=1.0)
            except Exception as exc:  # noqa: BLE001 - Redis away: the sweeps cover; try again soon
                log.warning("relay paused (%s: %s)", type(exc).__name__, exc)
                self.stopping.wait(1.0)
