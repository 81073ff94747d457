"""The tamper-evident journal: committed entries are sealed into a hash chain after the fact.

ledger.post does not touch the chain: a chain head updated inside post() would be one row that
every payment in the platform waits for. Instead a periodic job (Celery beat every minute, or
`manage.py seal_ledger`) takes the committed entries that have no seal yet, in entry-id order, and
appends one EntrySeal each: seq n, prev_hash = hash of seal n-1, hash = sha256(prev_hash + the
entry's canonical text: id, kind, reference, currency, created_at and its postings sorted). Only
one sealer runs at a time (an advisory lock on PostgreSQL; SQLite writers are serialised anyway).

An entry that commits late (its id is below an already sealed one, because its transaction ran
longer) is simply sealed by the next run with a higher seq: the chain's order is seq, not id.
The search for unsealed entries looks only ID_HORIZON ids below the newest sealed entry, or
SEAL_HORIZON before its time, so it stays cheap on a big ledger; post() holds no transaction open
that long.

check_ledger (registered below) recomputes every sealed entry's hash from the live rows and walks
the chain: the first entry whose rows changed, whose seal was altered, or whose link is broken is
named. An unsealed entry below both horizons (inserted behind the sealer's back) is named too.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from collections.abc import Iterator

from celery import shared_task
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from . import integrity
from .models import Entry, EntrySeal, Posting

GENESIS = "0" * 64
SEAL_HORIZON = datetime.timedelta(hours=1)
ID_HORIZON = 100_000  # entries this far below the sealed head are looked at too (late commits)
BATCH = 2000
_LOCK_KEY = 0x5EA1ED  # pg_advisory_xact_lock key of the sealer


def canonical(entry_id: int, kind: str, reference: str, currency: str, created_at, legs) -> str:
    when = created_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    postings = ";".join(f"{account}:{amount}" for account, amount in sorted(legs))
    return f"{entry_id}|{kind}|{reference}|{currency}|{when}|{postings}"


def link_hash(prev_hash: str, text: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{text}".encode()).hexdigest()


def _entries(ids: list[int]) -> dict[int, str]:
    """Canonical text of each entry, read from the live rows."""
    legs = defaultdict(list)
    for entry_id, account_id, amount in Posting.objects.filter(entry_id__in=ids).values_list(
        "entry_id", "account_id", "amount"
    ):
        legs[entry_id].append((account_id, amount))
    return {
        pk: canonical(pk, kind, reference, currency, created_at, legs[pk])
        for pk, kind, reference, currency, created_at in Entry.objects.filter(pk__in=ids).values_list(
            "pk", "kind", "reference", "currency", "created_at"
        )
    }


def _locked(cursor) -> bool:
    if connection.vendor != "postgresql":
        return True
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_KEY])
    return bool(cursor.fetchone()[0])


def seal(*, batch: int = BATCH) -> int:
    """Seals up to `batch` committed, unsealed entries; returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        if not _locked(cursor):
            return 0  # another sealer is at work
        head = EntrySeal.objects.order_by("-seq").select_related("entry").first()
        unsealed = Entry.objects.filter(seal__isnull=True)
        if head is not None:
            unsealed = unsealed.filter(
                Q(pk__gt=head.entry_id - ID_HORIZON) | Q(created_at__gte=head.entry.created_at - SEAL_HORIZON)
            )
        ids = list(unsealed.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return 0
        texts = _entries(ids)
        seq, prev = (head.seq, head.hash) if head is not None else (0, GENESIS)
        now = timezone.now()
        seals = []
        for pk in ids:
            seq += 1
            digest = link_hash(prev, texts[pk])
            seals.append(EntrySeal(entry_id=pk, seq=seq, prev_hash=prev, hash=digest, sealed_at=now))
            prev = digest
        EntrySeal.objects.bulk_create(seals)
        return len(seals)


def seal_all() -> int:
    total = 0
    while True:
        done = seal()
        total += done
        if done < BATCH:
            return total


@shared_task(acks_late=True)
def seal_ledger_task() -> int:
    return seal_all()


def verify(*, chunk: int = 5000) -> Iterator[str]:
    """Recomputes the chain from the live rows; yields the first broken link (and stops)."""
    prev_seq, prev_hash = 0, GENESIS
    while True:
        seals = list(
            EntrySeal.objects.filter(seq__gt=prev_seq)
            .order_by("seq")
            .values_list("seq", "entry_id", "prev_hash", "hash")[:chunk]
        )
        if not seals:
            break
        texts = _entries([entry_id for _, entry_id, _, _ in seals])
        for seq, entry_id, stored_prev, stored_hash in seals:
            if seq != prev_seq + 1:
                yield f"entry {entry_id}: seal {seq} follows seal {prev_seq} (a link is missing)"
                return
            if stored_prev != prev_hash:
                yield f"entry {entry_id}: seal {seq} does not link to seal {prev_seq} (the chain was altered)"
                return
            text = texts.get(entry_id)
            if text is None:
                yield f"entry {entry_id}: sealed as link {seq} but the entry is gone"
                return
            if link_hash(prev_hash, text) != stored_hash:
                yield (
                    f"entry {entry_id}: its stored rows no longer match seal {seq}"
                    " (the entry or its postings were altered)"
                )
                return
            prev_seq, prev_hash = seq, stored_hash
    head = EntrySeal.objects.order_by("-seq").select_related("entry").first()
    if head is not None:
        stale = (
            Entry.objects.filter(
                seal__isnull=True,
                pk__lte=head.entry_id - ID_HORIZON,
                created_at__lt=head.entry.created_at - SEAL_HORIZON,
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:10]
        )
        for entry_id in stale:
            yield f"entry {entry_id}: older than the sealed journal but never sealed (inserted behind it?)"


integrity.register("sealed journal (hash chain)", verify)
