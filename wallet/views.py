"""The customer portal: server-rendered pages over wallet.customers and wallet.selectors."""

from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from config.errors import DomainError

from . import customers, selectors, throttle
from .forms import (
    CloseAccountForm,
    HistoryFilterForm,
    LoginForm,
    PasswordChangeForm,
    PasswordResetConfirmForm,
    PasswordResetRequestForm,
    PinForm,
    ProfileForm,
    RegisterForm,
    add_domain_error,
)


def _set_language(response, language: str):
    if language:
        translation.activate(language)
        response.set_cookie("django_language", language, samesite="Lax")
    return response


def register(request):
    if request.user.is_authenticated:
        return redirect("wallet:dashboard")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            throttle.guard(request, "register", limit=20, window_seconds=3600)
            user = customers.register_customer(**form.cleaned_data, language=translation.get_language() or "")
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, _("We sent a PIN by SMS to %(phone)s.") % {"phone": user.phone})
            return redirect("wallet:verify-phone")
    return render(request, "wallet/register.html", {"form": form})


@login_required
def verify_phone(request):
    if request.user.phone_verified_at:
        return redirect("wallet:dashboard")
    form = PinForm(request.POST or None)
    if request.method == "POST" and "resend" in request.POST:
        try:
            customers.resend_phone_pin(user=request.user)
            messages.success(request, _("A new PIN is on its way."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("wallet:verify-phone")
    if request.method == "POST" and form.is_valid():
        try:
            customers.verify_phone(user=request.user, pin=form.cleaned_data["pin"])
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Your phone is confirmed. Welcome!"))
            return redirect("wallet:dashboard")
    return render(request, "wallet/verify_phone.html", {"form": form})


def login_view(request):
    if request.user.is_authenticated:
        return redirect("wallet:dashboard")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = customers.authenticate_customer(request=request, **form.cleaned_data)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            login(request, user)
            response = redirect(_safe_next(request) or "wallet:dashboard")
            return _set_language(response, user.language)
    return render(request, "wallet/login.html", {"form": form})


def _safe_next(request) -> str | None:
    target = request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None


@require_POST
def logout_view(request):
    logout(request)
    return redirect("wallet:login")


@login_required
def dashboard(request):
    wallet = selectors.wallet_of(request.user)
    context = {
        "wallet": wallet,
        "balance": selectors.balance_of(wallet),
        "recent": selectors.history(wallet)[:10],
        "refusal": customers.wallet_refusal(wallet),
    }
    return render(request, "wallet/dashboard.html", context)


@login_required
def history(request):
    wallet = selectors.wallet_of(request.user)
    form = HistoryFilterForm(request.GET or None, kinds=selectors.history_kinds(wallet))
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.history(wallet, **{k: v for k, v in filters.items() if v})
    page = Paginator(rows, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "wallet/history.html", {"form": form, "page": page, "query": query.urlencode()})


@login_required
def receipt(request, entry_id: int):
    posting = selectors.operation(request.user, entry_id)
    context = {"posting": posting, "entry": posting.entry, "others": selectors.counterparties(posting)}
    return render(request, "wallet/receipt.html", context)


@login_required
def profile(request):
    user = request.user
    initial = {"first_name": user.first_name, "last_name": user.last_name, "email": user.email}
    initial["address"] = user.address
    initial["language"] = user.language or translation.get_language()
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            customers.update_profile(user=user, **form.cleaned_data)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Your profile is saved."))
            return _set_language(redirect("wallet:profile"), user.language)
    return render(request, "wallet/profile.html", {"form": form, "wallet": selectors.wallet_of(user)})


@login_required
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            customers.change_password(user=request.user, **form.cleaned_data)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Your password is changed."))
            return redirect("wallet:dashboard")
    return render(
        request, "wallet/password_change.html", {"form": form, "forced": request.user.must_change_password}
    )


def password_reset(request):
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            throttle.guard(request, "password-reset", limit=10, window_seconds=3600)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            customers.request_password_reset(phone=form.cleaned_data["phone"])
            messages.success(request, _("If this phone has a wallet, a PIN is on its way by SMS."))
            return redirect(f"{request.path}confirm/?phone={form.cleaned_data['phone']}")
    return render(request, "wallet/password_reset.html", {"form": form})


def password_reset_confirm(request):
    form = PasswordResetConfirmForm(
        request.POST or None, initial={"phone": request.GET.get("phone", "")[:32]}
    )
    if request.method == "POST" and form.is_valid():
        try:
            throttle.guard(request, "password-reset-confirm", limit=20, window_seconds=3600)
            customers.reset_password(
                phone=form.cleaned_data["phone"],
                pin=form.cleaned_data["pin"],
                new_password=form.cleaned_data["new_password"],
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("Your password is changed. Log in with it."))
            return redirect("wallet:login")
    return render(request, "wallet/password_reset_confirm.html", {"form": form})


def verify_email(request, token: str):
    try:
        customers.verify_email(token=token)
    except DomainError as exc:
        return render(
            request,
            "wallet/message.html",
            {"title": _("Email not verified"), "text": exc.message},
            status=400,
        )
    return render(request, "wallet/message.html", {"title": _("Email verified"), "text": _("Thank you.")})


@login_required
def close_account(request):
    wallet = selectors.wallet_of(request.user)
    form = CloseAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if not request.user.check_password(form.cleaned_data["password"]):
            form.add_error("password", _("The password is not correct."))
        else:
            try:
                customers.close_account(user=request.user)
            except DomainError as exc:
                add_domain_error(form, exc)
            else:
                logout(request)
                return render(
                    request, "wallet/message.html", {"title": _("Account closed"), "text": _("Goodbye.")}
                )
    balance = selectors.balance_of(wallet)
    return render(request, "wallet/close.html", {"form": form, "balance": balance, "wallet": wallet})


def home(request):
    return redirect("wallet:dashboard" if request.user.is_authenticated else "wallet:login")
