"""Authentication of terminal requests over real HTTP: a wrong or missing signature, an unknown
terminal, a stale timestamp, a replayed request and a blocked terminal or agent each get their own
result code, and none of them posts anything."""

import json
import time

import pytest

from terminals import services
from terminals.signing import sign, signed_headers
from tests.factories import WalletFactory
from wallet import ledger
from wallet.models import Account, Entry, User

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "/api/terminal/v1/top-up/"


@pytest.fixture
def wallet(transactional_db):
    user = User.objects.create_user("+381641120001", "x-Sunce-42", first_name="Ana", last_name="Ilić")
    return WalletFactory(owner=user, status=Account.Status.ACTIVE)


def body(txn_id="S-1") -> bytes:
    return json.dumps({"txn_id": txn_id, "phone": "+381641120001", "amount": 10_000}).encode()


def headers_at(pos, timestamp: int, payload: bytes, *, secret=None, nonce="n0nce-0001-abcdef") -> dict:
    return {
        "X-Terminal-Id": pos.terminal_id,
        "X-Timestamp": str(timestamp),
        "X-Nonce": nonce,
        "X-Signature": sign(secret or pos.secret, "POST", PATH, str(timestamp), nonce, payload),
    }


def assert_refused(reply, status, result, code, wallet):
    assert (reply.status, reply.result, reply.body["error"]["code"]) == (status, result, code), reply.body
    assert reply.body["comment"]
    assert not Entry.objects.filter(reference__startswith="terminal:").exists()
    assert ledger.balance(wallet) == 0


def test_a_correctly_signed_request_is_accepted(pos, wallet):
    payload = body()
    reply = pos.send(
        "POST", PATH, payload, signed_headers(pos.terminal_id, pos.secret, "POST", PATH, payload)
    )
    assert reply.result == 0 and ledger.balance(wallet) == 10_000


def test_a_wrong_signature_is_refused_with_310(pos, wallet):
    reply = pos.send("POST", PATH, body(), headers_at(pos, int(time.time()), body(), secret="not-the-secret"))
    assert_refused(reply, 401, 310, "bad_signature", wallet)
    assert reply.headers["www-authenticate"].startswith("Signature")


def test_a_body_changed_after_signing_is_refused_with_310(pos, wallet):
    signed = headers_at(pos, int(time.time()), body())
    tampered = body().replace(b"10000", b"99000")
    assert_refused(pos.send("POST", PATH, tampered, signed), 401, 310, "bad_signature", wallet)


def test_a_signature_for_another_path_is_refused_with_310(pos, wallet):
    now = str(int(time.time()))
    signed = {
        "X-Terminal-Id": pos.terminal_id,
        "X-Timestamp": now,
        "X-Nonce": "n0nce-0002-abcdef",
        "X-Signature": sign(pos.secret, "POST", "/api/terminal/v1/check/", now, "n0nce-0002-abcdef", body()),
    }
    assert_refused(pos.send("POST", PATH, body(), signed), 401, 310, "bad_signature", wallet)


def test_an_unknown_terminal_is_refused_with_310(pos, wallet):
    headers = signed_headers("T-9999", pos.secret, "POST", PATH, body())
    assert_refused(pos.send("POST", PATH, body(), headers), 401, 310, "bad_signature", wallet)


@pytest.mark.parametrize("missing", ["X-Terminal-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
def test_a_request_without_a_signature_header_is_refused_with_310(pos, wallet, missing):
    headers = signed_headers(pos.terminal_id, pos.secret, "POST", PATH, body())
    del headers[missing]
    reply = pos.send("POST", PATH, body(), headers)
    assert_refused(reply, 401, 310, "bad_signature", wallet)
    assert missing in reply.body["error"]["fields"]


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_a_timestamp_more_than_five_minutes_off_is_refused_with_311(pos, wallet, offset):
    stamp = int(time.time()) + offset
    reply = pos.send("POST", PATH, body(), headers_at(pos, stamp, body()))
    assert_refused(reply, 401, 311, "stale_timestamp", wallet)
    assert abs(reply.body["error"]["server_time"] - time.time()) < 60


def test_a_timestamp_within_five_minutes_is_accepted(pos, wallet):
    reply = pos.send("POST", PATH, body(), headers_at(pos, int(time.time()) - 240, body()))
    assert reply.result == 0


def test_a_replayed_request_is_refused_with_312_and_posts_nothing_more(pos, wallet):
    headers = signed_headers(pos.terminal_id, pos.secret, "POST", PATH, body())
    first = pos.send("POST", PATH, body(), headers)

    replayed = pos.send("POST", PATH, body(), headers)
    other_body = body("S-2")  # the same nonce under another body is not a new request either
    reused_nonce = {**headers_at(pos, int(time.time()), other_body, nonce=headers["X-Nonce"])}
    again = pos.send("POST", PATH, other_body, reused_nonce)

    assert first.result == 0
    assert (replayed.status, replayed.result, replayed.body["error"]["code"]) == (
        401,
        312,
        "replayed_signature",
    )
    assert again.result == 312
    assert Entry.objects.filter(reference__startswith="terminal:").count() == 1
    assert ledger.balance(wallet) == 10_000


def test_a_blocked_terminal_is_refused_with_7(pos, pos_terminal, wallet):
    services.block_terminal(terminal=pos_terminal[0], reason="stolen")
    reply = pos.top_up("S-3", "+381641120001", 10_000)
    assert_refused(reply, 403, 7, "terminal_blocked", wallet)


def test_a_terminal_of_a_blocked_agent_is_refused_with_7(pos, agent, wallet):
    services.block_agent(agent=agent, reason="owes too much cash")
    reply = pos.top_up("S-4", "+381641120001", 10_000)
    assert_refused(reply, 403, 7, "agent_blocked", wallet)


def test_an_unblocked_terminal_works_again(pos, pos_terminal, wallet):
    services.block_terminal(terminal=pos_terminal[0], reason="check")
    assert pos.top_up("S-5", "+381641120001", 10_000).result == 7
    services.unblock_terminal(terminal=pos_terminal[0])
    assert pos.top_up("S-5", "+381641120001", 10_000).result == 0


def test_a_rotated_secret_replaces_the_old_one_at_once(pos, pos_terminal, wallet):
    new_secret = services.rotate_secret(terminal=pos_terminal[0])

    old = pos.top_up("S-6", "+381641120001", 10_000)
    pos.secret = new_secret
    new = pos.top_up("S-6", "+381641120001", 10_000)

    assert old.result == 310 and new.result == 0
    assert new_secret != pos_terminal[1]
