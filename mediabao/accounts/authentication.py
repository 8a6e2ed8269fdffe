"""API authentication: ``Authorization: Token mb_…`` keys bound to one user and team."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from mediabao.accounts.services import authenticate_api_key


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() not in (b"token", b"bearer"):
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid token header."))
        try:
            key = header[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(_("Invalid token header.")) from exc
        token = authenticate_api_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API token."))
        # The token decides the team for this request, whatever the user's console choice.
        request._request.team = token.team
        request._request.api_token = token
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
