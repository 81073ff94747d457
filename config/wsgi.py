import gc
import logging
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
_django_application = get_wsgi_application()

# granian copies the whole process environment into every request's environ, as CGI did. Django
# would carry DATABASE_URL (its password in it) and the rest in request.META, on into error
# reports (whose filter hides only keys named like KEY or PASS), and DRF's first header look-up of
# each request would parse every one of them. They are left out; a request's own keys stay.
_REQUEST_KEYS = frozenset(
    [
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
    ]
)
_PROCESS_ONLY = frozenset(
    k for k in os.environ if not k.startswith(("HTTP_", "wsgi.")) and k not in _REQUEST_KEYS
)


def application(environ, start_response):
    """Django's application, without the process's environment (above), its answer handed over
    whole: granian sends a list with one call (response_bytes), where an iterable answer costs it
    a round of calls back into Python to iterate and close it; about 5% of the server's CPU per
    payment request (bench/payments.py).
    Streaming answers (files, CSV exports) still stream. close() runs here, before the bytes go
    out: Django's request_finished (closing stale database connections) as before; an error in it
    is logged, as the server did, and the answer still sent."""
    for key in _PROCESS_ONLY.intersection(environ):
        del environ[key]
    response = _django_application(environ, start_response)
    if getattr(response, "streaming", True):
        return response
    try:
        body = response.content
    finally:
        try:
            response.close()
        except Exception:  # the answer is final (a payment may be committed): it still goes out
            logging.getLogger("django.request").exception(
                "closing the response of %s", environ.get("PATH_INFO")
            )
    return [body]


# Behind a reverse proxy (a load balancer, an ingress): the client's address and scheme come from
# its X-Forwarded-For and X-Forwarded-Proto, trusted only from the addresses listed here
# (comma-separated IPs or networks), never from anyone else. Throttling by IP needs it.
if trusted := os.environ.get("FORWARDED_ALLOW_IPS", ""):
    from granian.utils.proxies import wrap_wsgi_with_proxy_headers

    application = wrap_wsgi_with_proxy_headers(application, trusted_hosts=trusted)

# The cyclic garbage collector: every object imported so far (Django, the apps, their views: the
# URL patterns import them) lives as long as the process, so it is frozen out of the collector's
# passes, and a request's few thousand short-lived containers no longer set off a collection
# every 700 allocations. About 3% of a payment request's CPU (bench/payments.py under callgrind).
get_resolver().url_patterns  # noqa: B018 - imports every view now, before the freeze
gc.collect()
gc.freeze()
gc.set_threshold(10_000, 20, 10)
