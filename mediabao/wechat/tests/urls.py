"""The root URLconf plus the gateway's URLs (until mediabao/urls.py mounts them)."""

from django.urls import include, path

from mediabao import urls as root

handler404 = root.handler404
handler500 = root.handler500
handler403 = root.handler403
handler400 = root.handler400

_mounted = any(getattr(p, "namespace", None) == "wechat" for p in root.urlpatterns)
urlpatterns = [*root.urlpatterns, *([] if _mounted else [path("", include("mediabao.wechat.urls"))])]
