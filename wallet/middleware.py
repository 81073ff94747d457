from django.shortcuts import redirect
from django.urls import reverse


class ForcePasswordChangeMiddleware:
    """A customer who logged in with a temporary password sees only the password page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The path first: an API request need not load a session user at all.
        if request.path.startswith(("/api/", "/static/", "/i18n/", "/admin/")):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.must_change_password:
            allowed = {reverse("wallet:password-change"), reverse("wallet:logout")}
            if request.path not in allowed:
                return redirect("wallet:password-change")
        return self.get_response(request)
