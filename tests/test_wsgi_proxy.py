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


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "address", "scheme"),
    [
        # a proxy of ours passes on the client (then itself) and the scheme the client used
        ("10.0.0.0/8", "10.1.2.3", "203.0.113.7, 10.0.0.9", "203.0.113.7", "https"),
        # anyone else cannot choose the address it is seen from, nor the scheme
        ("10.0.0.0/8", "198.51.100.4", "203.0.113.7", "198.51.100.4", "http"),
        # without the setting no header is trusted
        ("", "10.1.2.3", "203.0.113.7", "10.1.2.3", "http"),
    ],
    ids=["trusted-proxy", "untrusted-peer", "no-setting"],
)
def test_forwarded_headers_count_only_from_a_trusted_proxy(served, trusted, peer, forwarded, address, scheme):
    load, seen = served
    app = load(trusted)
    environ = {
        "REMOTE_ADDR": peer,
        "HTTP_X_FORWARDED_FOR": forwarded,
        "HTTP_X_FORWARDED_PROTO": "https",
        "wsgi.url_scheme": "http",
    }
    app(environ, lambda status, headers: None)
    assert (seen[-1]["REMOTE_ADDR"], seen[-1]["wsgi.url_scheme"]) == (address, scheme)
