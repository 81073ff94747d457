from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .health import healthz

urlpatterns = [
    # First: the busiest requests (terminal top-ups, the merchant payment flow); this spares them
    # trying every pattern of the "" includes below (about 30 regex matches a request).
    path("api/terminal/v1/", include("terminals.urls")),
    path("api/merchant/v1/", include("merchants.api_urls")),
    path("api/v1/payments/", include("merchants.app_urls")),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/ledger/", include("wallet.urls")),
    path("", include("notifications.urls")),  # /notifications/..., /dev/sms/, /api/v1/me/notifications/
    path("api/v1/", include("wallet.app_urls")),
    path("", include("merchants.portal_urls")),  # /pay/<id>/ checkout, /merchant/ pages
    path("api/v1/vouchers/", include("vouchers.app_urls")),
    path("vouchers/", include("vouchers.urls")),
    path("api/v1/tariffs/", include("tariffs.api_urls")),
    path("tariffs/", include("tariffs.urls")),
    path("api/merchant/v1/", include("acquiring.api_urls")),  # card payments (PA/DB/CP/RV/RF)
    path("", include("acquiring.urls")),  # /card/pay/<id>/ hosted card page, /card/... pages
    path("", include("wallet.portal_urls")),
]

handler400 = "config.api.bad_request"
handler404 = "config.api.not_found"
handler500 = "config.api.server_error"
