from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from mediabao.core.health import healthz, livez

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="web:dashboard", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("accounts/", include("mediabao.accounts.urls")),
    path("wechat/component/", include("mediabao.wechat.component_urls")),
    path("", include("mediabao.wechat.urls")),
    path("console/fans/", include("mediabao.fans.urls")),
    path("console/keywords/", include("mediabao.keywords.urls")),
    path("console/messages/", include("mediabao.messaging.urls")),
    path("console/channels/", include("mediabao.channels.urls")),
    path("console/campaigns/", include("mediabao.campaigns.urls")),
    path("console/stats/", include("mediabao.stats.urls")),
    path("console/audit/", include("mediabao.audit.urls")),
    path("c/", include("mediabao.campaigns.public_urls")),
    path("console/", include("mediabao.web.urls")),
    path("api/v1/", include(("mediabao.api_urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

handler404 = "mediabao.web.views.not_found"
handler500 = "mediabao.web.views.server_error"
handler403 = "mediabao.web.views.forbidden"
handler400 = "mediabao.web.views.bad_request"
