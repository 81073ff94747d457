"""Portal pages: the customer's notification settings, marking portal notices read, and the
development SMS outbox."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import PreferencesForm


@login_required
def preferences(request):
    current = selectors.preferences_for(request.user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            services.update_preferences(user=request.user, **form.cleaned_data)
            messages.success(request, _("Your notification settings are saved."))
            return redirect("notifications:settings")
    else:
        form = PreferencesForm(
            initial={
                "email": current.email,
                "sms": current.sms,
                "portal": current.portal,
                "marketing_consent": current.marketing_consent,
                "language": selectors.message_language(request.user, current),
            }
        )
    return render(request, "notifications/settings.html", {"form": form, "preferences": current})


@login_required
@require_POST
def mark_read(request):
    """Marks one notice (`notice` in the form) or all of them read, then goes back to `next`."""
    notice = request.POST.get("notice", "")
    ids = [int(notice)] if notice.isdigit() else None
    services.mark_notices_read(user=request.user, notice_ids=ids)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("notifications:settings")
    return redirect(target)


def dev_sms_outbox(request):
    """The `outbox` SMS backend's messages, newest first. Only with DEBUG: they hold PINs."""
    if not settings.DEBUG:
        raise Http404
    return render(request, "notifications/dev_sms.html", {"sms_messages": selectors.sms_outbox()})
