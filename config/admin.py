"""The back office's admin site: django-otp's OTPAdminSite (password + TOTP), audited.

It is `django.contrib.admin.site` (config.apps.BackOfficeAdminConfig.default_site), so every
app's `@admin.register(...)` is covered without changing that app:

- login: phone + password + the code of the staff member's confirmed TOTP device
  (otp_totp.TOTPDevice). SMS PIN devices (wallet.PhonePin, also django-otp devices) are customer
  devices and never count as a staff second factor. django-axes refuses a locked-out login first.
- audit: `register()` puts AuditedModelAdmin in front of each ModelAdmin class, so add, change
  (forms, list_editable, the password form), delete and every admin action write an AuditLog row
  with the object before and after (wallet.audit).
- extra pages (dashboard, CSV reports, support and correction views) are added by wallet's
  admin modules with `site.register_page(...)`.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from django import forms
from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from wallet import audit

# --- login ----------------------------------------------------------------------------------------


class BackOfficeAuthenticationForm(OTPAdminAuthenticationForm):
    """Password, then the code of the user's TOTP device (no device to choose: staff have one)."""

    otp_token = forms.CharField(required=False, label=_("Authenticator code"))

    def _chosen_device(self, user):
        devices = TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("id")
        device = devices.first()
        if device is None:
            raise forms.ValidationError(
                _("This staff account has no authenticator (TOTP) set up. Ask an administrator."),
                code="no_totp_device",
            )
        return device


def is_verified_staff(request) -> bool:
    """An active staff member who signed in with password and authenticator code (TOTP): a
    session that OTPMiddleware verified. A user authenticated otherwise (an API token: a password
    alone) is not, whatever their permissions."""
    user = request.user
    verified = getattr(user, "is_verified", None)  # set by OTPMiddleware on a session's user
    return bool(
        user.is_active
        and user.is_staff
        and callable(verified)
        and verified()
        and isinstance(getattr(user, "otp_device", None), TOTPDevice)
    )


# --- audit of every ModelAdmin ------------------------------------------------------------------


class AuditedModelAdmin(admin.ModelAdmin):
    """Put in front of every registered ModelAdmin by BackOfficeSite.register."""

    audited = True

    def _before(self, request) -> dict:
        if not hasattr(request, "_audit_before"):
            request._audit_before = {}
        return request._audit_before

    def save_model(self, request, obj, form, change):
        if change:
            self._before(request)[(audit.object_type(obj), str(obj.pk))] = audit.snapshot_from_db(obj)
        super().save_model(request, obj, form, change)

    def _log(self, request, obj, action):
        key = (audit.object_type(obj), str(obj.pk))
        before = self._before(request).pop(key, None)
        audit.record(
            actor=request.user,
            action=action,
            obj=obj,
            before=before,
            after=audit.snapshot(obj),
            request=request,
        )

    # Called by Django after the object and its related objects are saved.
    def log_addition(self, request, obj, message):
        self._log(request, obj, "add")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._log(request, obj, "change")
        return super().log_change(request, obj, message)

    def delete_model(self, request, obj):
        before, label, pk, text = audit.snapshot(obj), audit.object_type(obj), str(obj.pk), str(obj)
        super().delete_model(request, obj)
        audit.record(
            actor=request.user,
            action="delete",
            object_type_label=label,
            object_id=pk,
            object_repr=text,
            before=before,
            request=request,
        )

    def delete_queryset(self, request, queryset):
        gone = [(audit.snapshot(o), audit.object_type(o), str(o.pk), str(o)) for o in queryset]
        super().delete_queryset(request, queryset)
        for before, label, pk, text in gone:
            audit.record(
                actor=request.user,
                action="delete",
                object_type_label=label,
                object_id=pk,
                object_repr=text,
                before=before,
                request=request,
            )

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            name: (func if name == "delete_selected" else _audited_action(func, name), name, description)
            for name, (func, name, description) in actions.items()
        }


def _audited_action(func, name):
    """An admin action that records each selected object before and after it ran."""

    def action(modeladmin, request, queryset):
        objects = list(queryset[: audit.MAX_OBJECTS_PER_ACTION + 1])
        befores = {str(o.pk): audit.snapshot(o) for o in objects[: audit.MAX_OBJECTS_PER_ACTION]}
        response = func(modeladmin, request, queryset)
        model = queryset.model
        afters = {str(o.pk): o for o in model._default_manager.filter(pk__in=[o.pk for o in objects])}
        reason = str(request.POST.get("reason", "") or "")
        for pk, before in befores.items():
            after_obj = afters.get(pk)
            audit.record(
                actor=request.user,
                action=f"action:{name}",
                object_type_label=audit.object_type(model),
                object_id=pk,
                object_repr=str(after_obj) if after_obj is not None else "",
                before=before,
                after=audit.snapshot(after_obj),
                reason=reason,
                request=request,
            )
        if len(objects) > audit.MAX_OBJECTS_PER_ACTION:
            audit.record(
                actor=request.user,
                action=f"action:{name}",
                object_type_label=audit.object_type(model),
                object_repr=f"... and more: {queryset.count()} objects in all",
                reason=reason,
                request=request,
            )
        return response

    for attribute in ("allowed_permissions", "short_description"):
        if hasattr(func, attribute):
            setattr(action, attribute, getattr(func, attribute))
    action.__name__ = name
    return action


# --- the site -------------------------------------------------------------------------------------


class BackOfficeSite(OTPAdminSite):
    site_header = _("PayWallet back office")
    site_title = _("PayWallet back office")
    index_title = _("Back office")
    login_form = BackOfficeAuthenticationForm
    login_template = "admin/backoffice/login.html"
    index_template = "admin/backoffice/index.html"

    def __init__(self, name="admin"):
        super().__init__(name)
        self._extra_views: list[tuple[str, object, str]] = []
        self.extra_links: list[tuple[str, str, str]] = []  # (url name, label, permission or "")

    def has_permission(self, request):
        return is_verified_staff(request)

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not getattr(admin_class, "audited", False):
            admin_class = type(
                admin_class.__name__, (AuditedModelAdmin, admin_class), {"__module__": admin_class.__module__}
            )
        return super().register(model_or_iterable, admin_class, **options)

    def register_page(self, route: str, view, name: str, *, label: str = "", permission: str = "") -> None:
        """Adds a staff page under /admin/<route> (behind the OTP login), optionally linked on the index."""
        self._extra_views.append((route, view, name))
        if label:
            self.extra_links.append((name, label, permission))

    def get_urls(self):
        extra = [path(route, self.admin_view(view), name=name) for route, view, name in self._extra_views]
        return extra + super().get_urls()

    def each_context(self, request):
        context = super().each_context(request)
        user = request.user
        context["backoffice_links"] = [
            (name, label)
            for name, label, permission in self.extra_links
            if not permission or (user.is_authenticated and user.has_perm(permission))
        ]
        return context


# --- django-axes, for the staff login only --------------------------------------------------------


class AdminOnlyAxesBackend(AxesStandaloneBackend):
    """Axes' check before the password, for logins that come with a request. Calls without one
    (Django's test Client.login, scripts) are never an admin login: nothing for axes to judge."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class AdminOnlyAxesHandler(AxesDatabaseHandler):
    """Counts failed and successful logins on the admin only (see settings: customers have their
    own throttle and must never be locked out by axes, nor cost it a database write per login)."""

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        if request is not None and self.is_admin_request(request):
            return super().user_login_failed(sender, credentials, request, **kwargs)
        return None

    def user_logged_in(self, sender, request, user, **kwargs):
        if request is not None and self.is_admin_request(request):
            return super().user_logged_in(sender, request, user, **kwargs)
        return None

    def user_logged_out(self, sender, request, user, **kwargs):
        if request is not None and self.is_admin_request(request):
            return super().user_logged_out(sender, request, user, **kwargs)
        return None
