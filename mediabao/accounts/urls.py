from django.contrib.auth import views as auth_views
from django.urls import path

from mediabao.accounts import binding_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.signup, name="signup"),
    path("password/", views.password_change, name="password_change"),
    path("invite/<str:key>/", views.invitation, name="invite"),
    path("team/", views.team_settings, name="team"),
    path("team/new/", views.create_team, name="team_create"),
    path("team/rename/", views.rename_team, name="team_rename"),
    path("team/switch/", views.switch_team, name="team_switch"),
    path("team/invitations/", views.create_invitation, name="invitation_create"),
    path("team/invitations/<int:pk>/revoke/", views.revoke_invitation, name="invitation_revoke"),
    path("team/members/<int:pk>/role/", views.change_role, name="member_role"),
    path("team/members/<int:pk>/remove/", views.remove_member, name="member_remove"),
    path("wechat-binding/", binding_views.page, name="wx_binding"),
    path("wechat-binding/status/", binding_views.status, name="wx_binding_status"),
    path("wechat-binding/unbind/", binding_views.unbind, name="wx_binding_unbind"),
    path("wechat-binding/open/<str:key>/", binding_views.open_link, name="wx_binding_open"),
    path("wechat-binding/done/", binding_views.done, name="wx_binding_done"),
    path("tokens/", views.create_token, name="token_create"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="token_revoke"),
]
