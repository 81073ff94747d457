"""config/wsgi.py hands the HTTP server a non-streaming answer whole (one bytes string in a list),
having closed Django's response itself, and lets a streaming one stream."""

import importlib
import os
from io import BytesIO
from wsgiref.util import setup_testing_defaults

import django.core.wsgi
import pytest
from django.core.signals import request_finished
from django.http import HttpResponse, StreamingHttpResponse

import config.wsgi


def environ_for(path: str) -> dict:
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": BytesIO(b"")}
    setup_testing_defaults(environ)
    environ["HTTP_HOST"] = "localhost"
    return environ


@pytest.mark.django_db  # request_started closes stale connections: the database is touched
def test_an_answer_is_handed_over_whole_with_the_request_already_finished():
    finished = []

    def on_finished(**kwargs):
        finished.append(True)

    request_finished.connect(on_finished)
    statuses = []
    try:
        body = config.wsgi.application(
            environ_for("/api/v1/payments/pay_nothing/"), lambda s, h: statuses.append(s)
        )
    finally:
        request_finished.disconnect(on_finished)

    assert isinstance(body, list) and len(body) == 1
    assert statuses == ["401 Unauthorized"] and b'"code"' in body[0]
    assert finished == [True]  # Django's close() ran: stale database connections are closed as before


@pytest.fixture
def wsgi_around(monkeypatch):
    """config.wsgi loaded again around a stand-in for Django's application; as it was after."""

    def load(django_app):
        monkeypatch.setattr(django.core.wsgi, "get_wsgi_application", lambda: django_app)
        return importlib.reload(config.wsgi).application

    yield load
    monkeypatch.undo()
    importlib.reload(config.wsgi)


@pytest.mark.django_db
def test_a_streaming_answer_still_streams(wsgi_around):
    def django_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/csv")])
        return StreamingHttpResponse(iter([b"order_id,amount\n", b"A-1,100\n"]))

    response = wsgi_around(django_app)(environ_for("/merchant/export/"), lambda s, h: None)

    assert isinstance(response, StreamingHttpResponse)  # not read into memory here
    assert list(response) == [b"order_id,amount\n", b"A-1,100\n"]


class FailingClose(HttpResponse):
    def close(self):
        super().close()
        raise RuntimeError("a request_finished receiver failed")


@pytest.mark.django_db
def test_an_error_in_closing_the_response_is_logged_and_the_answer_still_sent(wsgi_around, caplog):
    """The answer is final (a payment may be committed by then): before, granian sent it and then
    logged close()'s error; a close() run here must not turn it into a 500."""

    def django_app(environ, start_response):
        start_response("201 Created", [("Content-Type", "application/json")])
        return FailingClose(b'{"status": "succeeded"}', status=201)

    body = wsgi_around(django_app)(environ_for("/api/v1/payments/pay_1/confirm/"), lambda s, h: None)

    assert body == [b'{"status": "succeeded"}']
    assert "closing the response of /api/v1/payments/pay_1/confirm/" in caplog.text


@pytest.mark.django_db
def test_the_process_environment_stays_out_of_the_request(wsgi_around, monkeypatch):
    """granian copies os.environ into every request's environ: a DATABASE_URL with its password
    would sit in request.META and in error reports."""
    monkeypatch.setenv("DATABASE_URL", "postgres://payments:s3cret@db/payments")
    seen = []

    def django_app(environ, start_response):
        seen.append(dict(environ))
        start_response("200 OK", [])
        return HttpResponse(b"ok")

    app = wsgi_around(django_app)  # loaded with the variable set, as a server process starts
    environ = {**os.environ, **environ_for("/api/v1/me/"), "HTTP_AUTHORIZATION": "Token abc"}

    assert app(environ, lambda s, h: None) == [b"ok"]
    (meta,) = seen
    assert "DATABASE_URL" not in meta and "PATH" not in meta
    assert meta["HTTP_AUTHORIZATION"] == "Token abc" and meta["PATH_INFO"] == "/api/v1/me/"
    assert meta["REQUEST_METHOD"] == "GET" and meta["SERVER_NAME"]
