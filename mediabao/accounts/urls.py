from django.contrib.auth import views as auth_views
from django.urls import path

from mediabao.accounts import views

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
    path("tokens/", views.create_token, name="token_create"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="token_revoke"),
]
