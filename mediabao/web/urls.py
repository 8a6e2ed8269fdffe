from django.urls import path

from mediabao.web import views
from mediabao.wechat import views as wechat_views

app_name = "web"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("mp/", wechat_views.account_list, name="accounts"),
    path("mp/<int:pk>/", wechat_views.account_detail, name="account_detail"),
]
