"""The terminal API is documented: every result code in docs/terminal-api.md and the OpenAPI
schema; the command-line simulator speaks the real protocol."""

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from terminals import errors
from terminals.errors import RESULT_CODES
from terminals.management.commands.terminal_sim import DEMO_TERMINALS
from terminals.models import Agent, Terminal, TerminalTransaction
from tests.terminals.test_topup_api import active_wallet
from wallet import ledger

DOC = Path(__file__).resolve().parents[2] / "docs" / "terminal-api.md"


def _answered_errors(cls=errors.TerminalError):
    for sub in cls.__subclasses__():
        if sub not in (errors.PaymentForbidden,):  # a family, never answered itself
            yield sub
        yield from _answered_errors(sub)


def test_the_docs_explain_every_result_code_the_api_answers():
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", DOC.read_text(), flags=re.MULTILINE)
    documented = {(int(result), code) for result, cell in rows for code in re.findall(r"`(\w+)`", cell)}
    assert {int(result) for result, _ in rows} >= {result for result, *_ in RESULT_CODES}
    for cls in _answered_errors():
        assert (cls.result, cls.code) in documented, f"{cls.code} (result {cls.result}) is not in the docs"


def test_the_openapi_schema_has_the_terminal_api_and_its_signature(tmp_path, db):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    paths = {p for p in schema["paths"] if p.startswith("/api/terminal/v1/")}
    assert paths == {
        "/api/terminal/v1/check/",
        "/api/terminal/v1/top-up/",
        "/api/terminal/v1/change-receipt/",
        "/api/terminal/v1/sell-voucher/",
        "/api/terminal/v1/transactions/{txn_id}/",
        "/api/terminal/v1/summary/",
    }
    assert schema["components"]["securitySchemes"]["terminalSignature"]["name"] == "X-Signature"
    top_up = schema["paths"]["/api/terminal/v1/top-up/"]["post"]
    assert {p["name"] for p in top_up["parameters"]} >= {
        "X-Terminal-Id",
        "X-Timestamp",
        "X-Nonce",
        "X-Signature",
    }
    assert {"200", "401", "409", "422", "503"} <= set(top_up["responses"])
    assert "/api/v1/vouchers/redeem/" in schema["paths"]


@pytest.mark.django_db(transaction=True)
def test_the_command_line_simulator_tops_up_over_http(live_server, capsys):
    call_command("terminal_sim", "demo-setup")
    assert Terminal.objects.filter(code__in=[code for code, *_ in DEMO_TERMINALS]).count() == 2
    call_command("terminal_sim", "demo-setup")  # again: nothing new
    assert Agent.objects.count() == 1
    wallet = active_wallet()

    call_command(
        "terminal_sim", "--url", live_server.url, "top-up", "+381641110001", "12345", "--txn-id", "CLI-1"
    )
    call_command(
        "terminal_sim", "--url", live_server.url, "top-up", "+381641110001", "12345", "--txn-id", "CLI-1"
    )
    out = capsys.readouterr().out

    assert "HTTP 200 (replayed)" in out and '"result": 0' in out
    assert ledger.balance(wallet) == 12345
    assert TerminalTransaction.objects.get(txn_id="CLI-1").terminal.code == "DEMO-POS-1"
    with pytest.raises(CommandError, match="result 241"):
        call_command("terminal_sim", "--url", live_server.url, "top-up", "+381641110001", "0")
    with pytest.raises(CommandError, match="result 7"):
        call_command(
            "terminal_sim", "--url", live_server.url, "--terminal", "DEMO-POS-1", "change-receipt", "100"
        )
