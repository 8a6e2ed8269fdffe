"""Gateway URLs, mounted at the root: ``path("", include("mediabao.wechat.urls"))``.

``/wechat/callback/<appid>/`` is the server URL operators configure in WeChat; the
console pages sit next to ``web:accounts`` under ``/console/mp/``.
"""

from django.urls import path

from mediabao.wechat import views

app_name = "wechat"

urlpatterns = [
    path("wechat/callback/<str:appid>/", views.callback, name="callback"),
    path("console/mp/add/", views.account_add, name="account_add"),
    path("console/mp/<int:pk>/events/", views.event_log, name="events"),
]
