"""API permissions: a request acts inside one team and must belong to it."""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from mediabao.accounts.models import MANAGER_ROLES, Membership


def request_membership(request) -> Membership | None:
    django_request = getattr(request, "_request", request)
    cached = getattr(django_request, "_api_membership", False)
    if cached is not False:
        return cached
    team = getattr(django_request, "team", None)
    membership = None
    if team is not None and request.user and request.user.is_authenticated:
        membership = Membership.objects.filter(team=team, user=request.user).first()
    if team is None and request.user and request.user.is_authenticated:
        from mediabao.accounts.selectors import current_membership

        membership = current_membership(request.user)
        django_request.team = membership.team if membership else None
    django_request._api_membership = membership
    return membership


class IsTeamMember(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request_membership(request) is not None


class IsTeamManager(BasePermission):
    """Owners and admins: members, invitations and other teams' settings."""

    def has_permission(self, request, view) -> bool:
        membership = request_membership(request)
        return membership is not None and membership.role in MANAGER_ROLES
