"""config/wsgi.py behind a reverse proxy: the client's address comes from X-Forwarded-For only when
the peer is one of FORWARDED_ALLOW_IPS (else anyone could pick the address that IP throttling sees)."""

import importlib

import django.core.wsgi
import pytest

import config.wsgi


@pytest.fixture
def served(monkeypatch):
    """config.wsgi loaded again with FORWARDED_ALLOW_IPS, around a stand-in for Django's handler
    that records the environ it was given; loaded as it was after the test."""
    seen = []

    def django_app(environ, start_response):
        seen.append(environ)
        start_response("200 OK", [])
        return [b""]

    def load(trusted: str):
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", trusted)
        monkeypatch.setattr(django.core.wsgi, "get_wsgi_application", lambda: django_app)
        return importlib.reload(config.wsgi).application

    yield load, seen
    monkeypatch.undo()
    importlib.reload(config.wsgi)


def request(app, peer: str, forwarded: str) -> None:
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded, "wsgi.url_scheme": "http"}
    environ["HTTP_X_FORWARDED_PROTO"] = "https"
    app(environ, lambda status, headers: None)


def test_a_trusted_proxy_passes_on_the_clients_address_and_scheme(served):
    load, seen = served
    app = load("10.0.0.0/8")
    request(app, "10.1.2.3", "203.0.113.7, 10.0.0.9")  # the client, then a proxy of ours
    assert seen[-1]["REMOTE_ADDR"] == "203.0.113.7"
    assert seen[-1]["wsgi.url_scheme"] == "https"


def test_anyone_else_cannot_choose_the_address_it_is_seen_from(served):
    load, seen = served
    app = load("10.0.0.0/8")
    request(app, "198.51.100.4", "203.0.113.7")
    assert seen[-1]["REMOTE_ADDR"] == "198.51.100.4"
    assert seen[-1]["wsgi.url_scheme"] == "http"


def test_without_the_setting_no_header_is_trusted(served):
    load, seen = served
    app = load("")
    request(app, "10.1.2.3", "203.0.113.7")
    assert seen[-1]["REMOTE_ADDR"] == "10.1.2.3"
