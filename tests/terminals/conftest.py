"""Terminal tests run over real HTTP (pytest-django's live server) with signed requests, through
the terminal simulator, as a terminal in a shop would."""

import pytest

from config.celery import app as celery_app
from terminals import services
from terminals.models import Terminal
from terminals.simulator import TerminalClient


@pytest.fixture
def agent(transactional_db):
    return services.create_agent(name="Kiosk Centar d.o.o.", contact="+381 11 123 4567")


@pytest.fixture
def pos_terminal(agent) -> tuple[Terminal, str]:
    return services.add_terminal(agent=agent, code="T-0001", location="Kiosk, Knez Mihailova 1")


@pytest.fixture
def cash_terminal(agent) -> tuple[Terminal, str]:
    return services.add_terminal(
        agent=agent, code="C-0001", location="Self-service, Bulevar 10", kind=Terminal.Kind.CASH
    )


@pytest.fixture
def connect(live_server):
    """connect(terminal, secret) -> a TerminalClient on the live server; all closed at the end."""
    clients = []

    def make(terminal: Terminal, secret: str) -> TerminalClient:
        client = TerminalClient(live_server.url, terminal.code, secret)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def pos(connect, pos_terminal) -> TerminalClient:
    return connect(*pos_terminal)


@pytest.fixture
def cash(connect, cash_terminal) -> TerminalClient:
    return connect(*cash_terminal)


@pytest.fixture
def deliver_sms_at_once():
    """Celery runs delivery in the live server's thread right after commit: the SMS is in the
    outbox by the time the terminal gets its answer."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before
