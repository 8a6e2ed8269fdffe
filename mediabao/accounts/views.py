"""Console views for sign-up, login, password, team settings, invitations and API tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mediabao.accounts import selectors, services, throttle
from mediabao.accounts.forms import (
    ApiTokenForm,
    InvitationForm,
    LoginForm,
    PasswordForm,
    RoleForm,
    SignUpForm,
    TeamForm,
)
from mediabao.accounts.models import ApiToken, Invitation, Membership
from mediabao.core.tenancy import get_for_team_or_404


class LoginView(auth_views.LoginView):
    """Django's login with a throttle on failed attempts per IP and username."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        ip, username = throttle.client_ip(request), request.POST.get("username", "")
        if throttle.is_blocked(ip, username):
            form = self.get_form()
            form.errors.clear()
            return render(request, self.template_name, {
                "form": form, "blocked": True,
                "error": _("Too many failed attempts. Please wait a few minutes and try again."),
            }, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        throttle.record_failure(throttle.client_ip(self.request), self.request.POST.get("username", ""))
        return super().form_invalid(form)

    def form_valid(self, form):
        throttle.reset(throttle.client_ip(self.request), form.get_user().get_username())
        return super().form_valid(form)


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.sign_up(
            username=form.cleaned_data["username"], password=form.cleaned_data["password1"],
            email=form.cleaned_data.get("email", ""), team_name=form.cleaned_data.get("team_name", ""),
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to MediaBao! Your team is ready."))
        next_url = request.GET.get("next", "")
        if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
            return redirect(next_url)
        return redirect("web:dashboard")
    return render(request, "accounts/signup.html", {"form": form})


@login_required
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        messages.success(request, _("Your password was changed."))
        return redirect("accounts:password_change")
    return render(request, "accounts/password_change.html", {"form": form})


@login_required
@require_POST
def switch_team(request: HttpRequest) -> HttpResponse:
    try:
        team = services.switch_team(user=request.user, team_id=int(request.POST.get("team", "0")))
    except (PermissionDenied, ValueError):
        messages.error(request, _("You are not a member of that team."))
        return redirect("web:dashboard")
    messages.success(request, _("Switched to %(team)s.") % {"team": team.name})
    return redirect("web:dashboard")


@login_required
def create_team(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = services.create_team(owner=request.user, name=form.cleaned_data["name"])
        services.switch_team(user=request.user, team_id=team.id)
        messages.success(request, _("Team %(team)s created.") % {"team": team.name})
        return redirect("accounts:team")
    return render(request, "accounts/team_create.html", {"form": form})


@login_required
def team_settings(request: HttpRequest) -> HttpResponse:
    team = request.team
    if team is None:
        return redirect("accounts:team_create")
    new_invite_key = request.session.pop("new_invite_key", None)
    new_token_key = request.session.pop("new_token_key", None)
    context = {
        "team": team,
        "members": selectors.members_of(team),
        "invitations": selectors.open_invitations(team),
        "tokens": selectors.tokens_of(request.user, team),
        "invite_form": InvitationForm(),
        "token_form": ApiTokenForm(),
        "role_form": RoleForm(),
        "team_form": TeamForm(initial={"name": team.name}),
        "can_manage": request.membership.can_manage,
        "new_invite_url": request.build_absolute_uri(
            reverse("accounts:invite", args=[new_invite_key])) if new_invite_key else None,
        "new_token_key": new_token_key,
        "invitation_days": settings.INVITATION_VALID_DAYS,
    }
    return render(request, "accounts/team.html", context)


@login_required
@require_POST
def rename_team(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    try:
        services.require_manager(request.user, request.team)
    except PermissionDenied:
        messages.error(request, _("Only team owners and admins can do this."))
        return redirect("accounts:team")
    if form.is_valid():
        request.team.name = form.cleaned_data["name"]
        request.team.save(update_fields=["name"])
        messages.success(request, _("Team renamed."))
    else:
        messages.error(request, _("Please enter a name."))
    return redirect("accounts:team")


@login_required
@require_POST
def create_invitation(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please choose a role."))
        return redirect("accounts:team")
    try:
        created = services.create_invitation(team=request.team, by=request.user,
                                             role=form.cleaned_data["role"])
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("accounts:team")
    request.session["new_invite_key"] = created.key
    return redirect("accounts:team")


@login_required
@require_POST
def revoke_invitation(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_for_team_or_404(Invitation, request.team, pk=pk)
    try:
        services.revoke_invitation(invitation=invitation, by=request.user)
        messages.success(request, _("Invitation revoked."))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    return redirect("accounts:team")


def _member_or_404(request: HttpRequest, pk: int) -> Membership:
    return get_object_or_404(Membership, team=request.team, pk=pk)


@login_required
@require_POST
def change_role(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _member_or_404(request, pk)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(team=request.team, by=request.user, membership=membership,
                                 role=form.cleaned_data["role"])
            messages.success(request, _("Role updated."))
        except (PermissionDenied, ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("accounts:team")


@login_required
@require_POST
def remove_member(request: HttpRequest, pk: int) -> HttpResponse:
    membership = _member_or_404(request, pk)
    try:
        services.remove_member(team=request.team, by=request.user, membership=membership)
        messages.success(request, _("Member removed."))
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect("accounts:team")


def invitation(request: HttpRequest, key: str) -> HttpResponse:
    found = services.find_invitation(key)
    usable = found is not None and found.is_usable
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('accounts:login')}?next={request.path}")
        try:
            team = services.accept_invitation(key=key, user=request.user)
        except ValidationError:
            messages.error(request, _("This invitation link is invalid, used or expired."))
            return redirect("web:dashboard")
        messages.success(request, _("You joined %(team)s.") % {"team": team.name})
        return redirect("web:dashboard")
    return render(request, "accounts/invitation.html",
                  {"invitation": found if usable else None}, status=200 if usable else 404)


@login_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please name the token."))
        return redirect("accounts:team")
    created = services.create_api_token(user=request.user, team=request.team,
                                        name=form.cleaned_data["name"])
    request.session["new_token_key"] = created.key
    return redirect("accounts:team")


@login_required
@require_POST
def revoke_token(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_for_team_or_404(ApiToken.objects.filter(user=request.user), request.team, pk=pk)
    services.revoke_api_token(token=token, by=request.user)
    messages.success(request, _("Token revoked."))
    return redirect("accounts:team")
