"""`make run` works on a bare machine: scripts/run.sh, started with no DATABASE_URL, REDIS_URL or
CELERY_BROKER_URL (so on SQLite and the filesystem broker, in a temporary VAR_DIR), migrates,
loads the demo data, serves /healthz, /api/schema/ and the admin login it prints, starts the demo
shop (whose Buy creates a payment through the merchant API and leads to the platform's checkout),
leaves a consistent ledger, and stops its Celery worker and beat and the shop when it is stopped."""

import http.cookiejar
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing, suppress
from pathlib import Path

import pytest

from wallet.services import SYSTEM_ACCOUNTS

ROOT = Path(__file__).resolve().parent.parent
# What `make test` sets (and anything else that would steer the settings away from the
# embedded defaults that `make run` uses on a bare machine).
STRIPPED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "PLATFORM_ENV",
    "DJANGO_SETTINGS_MODULE",
    "CELERY_TASK_ALWAYS_EAGER",
    "VAR_DIR",
    "PORT",
    "DEMO_ADMIN_PASSWORD",
    "PLATFORM_URL",
    "SHOP_PORT",
    "DEMO_SHOP_CONFIG",
)
START_TIMEOUT = 120  # seconds; a fresh start (migrate, demo data) took up to 60 on a busy 2-core machine
STOP_TIMEOUT = 40  # run.sh gives Celery's warm shutdown up to 30 s before killing it


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bare_env(var_dir: Path, port: int, shop_port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    env.update(
        VAR_DIR=str(var_dir),
        PORT=str(port),
        SHOP_PORT=str(shop_port),
        PYTHONUNBUFFERED="1",
        RUN_PYTHON=sys.executable,
    )
    return env


def _get(url: str, *, headers=None, timeout=5):
    """(status, body) of a GET, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _post_json(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    """(status, JSON answer) of a JSON POST."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _pay_with_the_pin(base: str, var_dir: Path, payment_id: str) -> None:
    """A demo customer pays the payment through the customer API (the PIN statements run on
    SQLite too): a wrong PIN is counted, the PIN of the SMS the worker delivered pays."""
    phone = "+381600000002"
    status, login = _post_json(
        f"{base}/api/v1/auth/token/", {"phone": phone, "password": "demo-customer-only"}
    )
    assert status == 200, login
    auth = {"Authorization": f"Token {login['token']}"}
    status, body = _post_json(
        f"{base}/api/v1/payments/{payment_id}/initiate/", {"terms_accepted": True}, auth
    )
    assert (status, body.get("status")) == (200, "pin_sent"), body
    found, deadline = None, time.monotonic() + 30
    while found is None and time.monotonic() < deadline:
        time.sleep(0.3)
        with closing(sqlite3.connect(f"file:{var_dir / 'db.sqlite3'}?mode=ro", uri=True)) as db:
            row = db.execute(
                'SELECT body FROM notifications_smsmessage WHERE "to" = ? ORDER BY id DESC', [phone]
            )
            found = re.search(r"\b(\d{6})\b", (row.fetchone() or [""])[0])
    assert found, "the Celery worker delivered no PIN SMS"
    pin = found.group(1)
    wrong = "000000" if pin != "000000" else "111111"
    status, body = _post_json(f"{base}/api/v1/payments/{payment_id}/confirm/", {"pin": wrong}, auth)
    assert (status, body.get("error", {}).get("code")) == (422, "pin_invalid"), body
    status, body = _post_json(f"{base}/api/v1/payments/{payment_id}/confirm/", {"pin": pin}, auth)
    assert (status, body.get("status")) == (200, "succeeded"), body


def _live_group_members(pgid: int) -> list[str]:
    """Processes (not zombies) still in the process group, as "pid cmdline"."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state, ppid, pgrp, ...
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            found.append(f"{entry.name} {cmdline.strip()}")
    return found


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _admin_login(base: str, phone: str, password: str, otp_token: str = "") -> tuple[int, str]:
    """Logs in to the admin as a person would; returns the status and Location of the POST."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    with opener.open(f"{base}/admin/login/", timeout=10) as page:
        html = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": phone,
            "password": password,
            "otp_token": otp_token,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/admin/login/", data=form, headers={"Referer": f"{base}/admin/login/"}
    )
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def _stop(proc: subprocess.Popen) -> list[str]:
    """Stops run.sh as Ctrl-C / the end of the web server would (its trap stops the worker),
    then kills whatever is left of its process group. Returns what had to be killed."""
    pgid = proc.pid  # start_new_session: run.sh leads its own process group
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + 5
    strays = _live_group_members(pgid)
    while strays and time.monotonic() < deadline:
        time.sleep(0.2)
        strays = _live_group_members(pgid)
    with suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)
    return strays


def _buy_at_the_shop(shop: str) -> tuple[int, str]:
    """Presses Buy on the demo shop's first product; returns the status and Location."""
    opener = urllib.request.build_opener(_NoRedirect())
    form = urllib.parse.urlencode({"product": "beans", "quantity": "1"}).encode()
    try:
        with opener.open(urllib.request.Request(f"{shop}/buy", data=form), timeout=20) as response:
            return response.status, response.read().decode(errors="replace")[:2000]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def _start(tmp_path: Path, attempt: int):
    var_dir = tmp_path / f"var{attempt}"
    port, shop_port = _free_port(), _free_port()
    log_path = tmp_path / f"run{attempt}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "run.sh")],
            cwd=ROOT,
            env=_bare_env(var_dir, port, shop_port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, var_dir, port, shop_port, log_path


@pytest.mark.slow
def test_make_run_serves_the_platform_on_embedded_defaults_and_stops_cleanly(tmp_path):
    for attempt in range(3):
        proc, var_dir, port, shop_port, log_path = _start(tmp_path, attempt)
        base, shop = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{shop_port}"
        health = None
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and proc.poll() is None:
                status, body = _get(f"{base}/healthz", timeout=3)
                if status == 200:
                    health = json.loads(body)
                    break
                time.sleep(0.3)
            log = log_path.read_text(errors="replace")
            if health is None and proc.poll() is not None and "already in use" in log:
                continue  # another process took the port between our probe and runserver: retry
            assert health is not None, f"/healthz never answered 200; run.sh said:\n{log[-5000:]}"
            assert health == {"status": "ok", "database": "ok", "broker": "ok"}
            banner = time.monotonic() + 15  # what to open is printed once the demo shop answers too
            while "Demo customers:" not in log and time.monotonic() < banner:
                time.sleep(0.2)
                log = log_path.read_text(errors="replace")
            assert (var_dir / "db.sqlite3").exists(), "the database is not the SQLite file in VAR_DIR"
            assert (var_dir / "broker").is_dir(), "the broker is not the filesystem transport in VAR_DIR"

            status, body = _get(f"{base}/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
            assert status == 200
            schema = json.loads(body)
            assert schema["openapi"].startswith("3.")
            assert schema["paths"]

            # The login that run.sh prints works: password, then the code of the demo authenticator.
            assert "+381600000001" in log and "demo-admin-only" in log
            assert "manage.py demo_totp" in log and "otpauth://totp/" in log
            assert _admin_login(base, "+381600000001", "demo-admin-only")[0] == 200  # no code: refused
            for _ in range(2):  # a code typed at the turn of a 30-second step may be stale: once more
                code = subprocess.run(
                    [sys.executable, "manage.py", "demo_totp"],
                    cwd=ROOT,
                    env=_bare_env(var_dir, port, shop_port),
                    capture_output=True,
                    text=True,
                    timeout=60,
                ).stdout.strip()
                assert re.fullmatch(r"\d{6}", code), code
                result = _admin_login(base, "+381600000001", "demo-admin-only", code)
                if result == (302, "/admin/"):
                    break
            assert result == (302, "/admin/")

            # The demo shop answers, and its Buy creates a payment through the merchant API (with
            # the key seed_demo_shop wrote) and sends the browser to this platform's checkout.
            assert f"demo shop     {shop}/" in log, log[-3000:]
            status, body = _get(f"{shop}/")
            assert status == 200 and b"Espresso beans" in body, (status, body[:500])
            status, location = _buy_at_the_shop(shop)
            assert status == 303 and re.fullmatch(rf"{base}/pay/pay_[\w-]+/", location), (status, location)
            status, body = _get(location)
            assert status == 200 and b"Demo shop d.o.o." in body
            assert (var_dir / "demo-shop.json").stat().st_mode & 0o077 == 0  # the key is private
            _pay_with_the_pin(base, var_dir, location.rstrip("/").rsplit("/", 1)[1])

            check = subprocess.run(
                [sys.executable, "manage.py", "check_ledger"],
                cwd=ROOT,
                env=_bare_env(var_dir, port, shop_port),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert check.returncode == 0, check.stdout + check.stderr
            assert "ledger is consistent" in check.stdout

            with closing(sqlite3.connect(f"file:{var_dir / 'db.sqlite3'}?mode=ro", uri=True)) as db:
                codes = {c for (c,) in db.execute("SELECT code FROM wallet_account WHERE kind = 'system'")}
                business = set(db.execute("SELECT kind, name FROM wallet_account WHERE kind <> 'customer'"))
                customers = db.execute(
                    "SELECT COUNT(*) FROM wallet_account WHERE kind = 'customer'"
                ).fetchone()
            assert codes == set(SYSTEM_ACCOUNTS)
            assert {("merchant", "Demo shop d.o.o."), ("agent", "Demo agent")} <= business
            assert customers == (3,)
        finally:
            strays = _stop(proc)
        assert not strays, "processes outlived run.sh:\n" + "\n".join(strays)
        break
    else:
        pytest.fail("no free port for runserver after 3 attempts")
