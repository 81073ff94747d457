"""The JSON API's own, shorter middleware chain.

Every request used to pass all of MIDDLEWARE, whose page parts (CSRF cookies, flash messages,
the forced password change, axes' admin lockout) an API request never uses: about 7% of a
payment request's CPU went to the chain. `ApiMiddleware`, first in MIDDLEWARE, hands a request
under /api/ (but the HTML Swagger page) to a handler built once from API_MIDDLEWARE, which then
resolves and runs the view as Django's handler does; pages go on down MIDDLEWARE. Being a
middleware, it serves the test client as it serves granian, so tests run the chain production runs.
"""

from django.conf import settings
from django.core.handlers.base import BaseHandler

from .api import not_found

API_PREFIX = "/api/"
PAGES_UNDER_API = ("/api/docs/",)  # HTML (Swagger UI): the page middleware applies


class _ApiHandler(BaseHandler):
    def load_middleware(self, is_async=False):
        # BaseHandler reads settings.MIDDLEWARE; this handler is built from API_MIDDLEWARE instead,
        # once per process at start-up (no request runs while it is swapped).
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.api = _ApiHandler()
        self.api.load_middleware()

    def __call__(self, request):
        path = request.path_info
        if "\x00" in path:  # no URL of ours holds a NUL, and PostgreSQL refuses one in a string (a 500)
            return not_found(request)
        if path.startswith(API_PREFIX) and not path.startswith(PAGES_UNDER_API):
            return self.api._middleware_chain(request)
        return self.get_response(request)
