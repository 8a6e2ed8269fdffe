"""The root URLconf plus channels' console and API URLs and the gateway's callback,
for whichever of them mediabao/urls.py does not mount yet."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from mediabao import urls as root
from mediabao.channels import api as channels_api

handler404 = root.handler404
handler500 = root.handler500
handler403 = root.handler403
handler400 = root.handler400


def _mounted(namespace: str) -> bool:
    return any(getattr(p, "namespace", None) == namespace for p in root.urlpatterns)


def _api_has_channels() -> bool:
    from mediabao import api_urls

    return any("channels" in str(getattr(p, "pattern", "")) for p in api_urls.router.urls)


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("channels", channels_api.ChannelViewSet, basename="channel")

extra = []
if not _mounted("channels"):
    extra.append(path("console/channels/", include("mediabao.channels.urls")))
if not _mounted("wechat"):
    extra.append(path("", include("mediabao.wechat.urls")))
if not _api_has_channels():
    extra.append(path("api/v1/", include((router.urls, "api"), namespace="api-channels")))

urlpatterns = [*extra, *root.urlpatterns]
