"""A terminal simulator on the command line: speaks the real, signed terminal API over HTTP.

    python manage.py terminal_sim demo-setup                       # a demo agent with two terminals
    python manage.py terminal_sim --terminal DEMO-POS-1 check +381600000003
    python manage.py terminal_sim --terminal DEMO-POS-1 top-up +381600000003 150000
    python manage.py terminal_sim --terminal DEMO-CASH-1 change-receipt 3700
    python manage.py terminal_sim --terminal DEMO-POS-1 sell-voucher 100000
    python manage.py terminal_sim --terminal DEMO-POS-1 status <txn_id>
    python manage.py terminal_sim --terminal DEMO-POS-1 summary [YYYY-MM-DD]

Without --secret the terminal's secret is taken from this installation (development convenience).
"""

import json
import secrets

from django.core.management.base import BaseCommand, CommandError

from terminals import services
from terminals.models import Agent, Terminal
from terminals.simulator import TerminalClient

DEMO_AGENT = "Demo terminals agent"
DEMO_TERMINALS = [
    ("DEMO-POS-1", Terminal.Kind.POS, "Kiosk, Knez Mihailova 1, Belgrade"),
    ("DEMO-CASH-1", Terminal.Kind.CASH, "Self-service terminal, Bulevar oslobođenja 10, Novi Sad"),
]


class Command(BaseCommand):
    help = "Terminal simulator: signed requests to the terminal API (see docs/terminal-api.md)."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the platform's address")
        parser.add_argument("--terminal", default="DEMO-POS-1", help="terminal id (X-Terminal-Id)")
        parser.add_argument("--secret", default="", help="the terminal's secret (default: from the database)")
        parser.add_argument("--retries", type=int, default=2, help="retries of the same txn_id on result 1")
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("demo-setup", help="create the demo agent and its terminals; print their secrets")
        check = sub.add_parser("check")
        check.add_argument("phone")
        check.add_argument("amount", type=int, nargs="?")
        top_up = sub.add_parser("top-up")
        top_up.add_argument("phone")
        top_up.add_argument("amount", type=int)
        top_up.add_argument("--txn-id", default="")
        change = sub.add_parser("change-receipt")
        change.add_argument("amount", type=int)
        change.add_argument("--txn-id", default="")
        sell = sub.add_parser("sell-voucher")
        sell.add_argument("face_value", type=int)
        sell.add_argument("--txn-id", default="")
        status = sub.add_parser("status")
        status.add_argument("txn_id")
        summary = sub.add_parser("summary")
        summary.add_argument("date", nargs="?")

    def handle(self, *args, **options):
        action = options["action"]
        if action == "demo-setup":
            return self._demo_setup()
        secret = options["secret"] or self._secret(options["terminal"])
        client = TerminalClient(options["url"], options["terminal"], secret)
        txn_id = options.get("txn_id") or secrets.token_hex(6)
        retries = options["retries"]
        try:
            if action == "check":
                reply = client.check(options["phone"], options["amount"])
            elif action == "top-up":
                reply = client.top_up(txn_id, options["phone"], options["amount"], retries=retries)
            elif action == "change-receipt":
                reply = client.change_receipt(txn_id, options["amount"], retries=retries)
            elif action == "sell-voucher":
                reply = client.sell_voucher(txn_id, options["face_value"], retries=retries)
            elif action == "status":
                reply = client.status(options["txn_id"])
            else:
                reply = client.summary(options["date"])
        except OSError as exc:
            raise CommandError(f"cannot reach {options['url']}: {exc}") from exc
        finally:
            client.close()
        self.stdout.write(f"HTTP {reply.status}{' (replayed)' if reply.replayed else ''}")
        self.stdout.write(json.dumps(reply.body, indent=2, ensure_ascii=False))
        if reply.result != 0:
            raise CommandError(f"result {reply.result}: {reply.body.get('comment', '')}")

    def _secret(self, code: str) -> str:
        terminal = Terminal.objects.filter(code=code).first()
        if terminal is None:
            raise CommandError(f"no terminal {code} here: give --secret, or run demo-setup first")
        return services.terminal_secret(terminal)

    def _demo_setup(self):
        agent = Agent.objects.filter(name=DEMO_AGENT).first() or services.create_agent(
            name=DEMO_AGENT, contact="demo"
        )
        for code, kind, location in DEMO_TERMINALS:
            terminal = Terminal.objects.filter(code=code).first()
            if terminal is None:
                terminal, _ = services.add_terminal(agent=agent, code=code, location=location, kind=kind)
                self.stdout.write(f"created terminal {code} ({kind}) for {agent.name}")
            self.stdout.write(f"  {code}: secret {services.terminal_secret(terminal)}")
