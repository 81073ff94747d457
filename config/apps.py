"""The admin app with the back office's site as `django.contrib.admin.site`.

`BackOfficeAdminConfig` replaces "django.contrib.admin" in INSTALLED_APPS. Its `default_site` is
config.admin.BackOfficeSite, so every `admin.site.register(...)` / `@admin.register(...)` of every
app (present and future) lands on the OTP-protected, audited site without changing those files.
"""

from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class BackOfficeAdminConfig(AdminConfig):
    default_site = "config.admin.BackOfficeSite"

    def ready(self):
        super().ready()  # autodiscovers every app's admin.py
        from wallet import roles, sealing  # noqa: F401 - sealing registers its Celery task and check

        post_migrate.connect(roles.setup_after_migrate, sender=self, dispatch_uid="backoffice-roles")
