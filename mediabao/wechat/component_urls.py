from django.urls import path

from mediabao.wechat import component_views

app_name = "wechat_component"

urlpatterns = [
    path("start/", component_views.start, name="start"),
    path("return/", component_views.authorized, name="return"),
    path("notify/", component_views.notify, name="notify"),
]
