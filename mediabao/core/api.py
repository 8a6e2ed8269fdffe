"""One error format and one pagination for the whole REST API.

Every error body is ``{"code": ..., "message": ..., "fields": {...}, "request_id": ...}``:
``code`` is stable for scripts, ``message`` is for people (translated), ``fields`` lists
per-field validation errors.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mediabao.core.logging import request_id_var

log = logging.getLogger(__name__)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _codes(detail: Any) -> Any:
    return detail


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    body: dict[str, Any] = {"code": code, "message": message, "request_id": request_id_var.get()}
    if fields:
        body["fields"] = fields
    return body


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unhandled API error", exc_info=exc)
        return Response(
            error_body("server_error", _("Internal error. Please try again later.")),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = _flatten(detail) if isinstance(detail, dict) else {"non_field_errors": _flatten(detail)}
        body = error_body("invalid", _("The request is invalid."), fields)
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(str(code), str(exc.detail) if not isinstance(exc.detail, (list, dict))
                          else _("The request failed."))
    else:  # pragma: no cover - DRF only returns responses for APIException
        body = error_body("error", _("The request failed."))
    response.data = body
    return response


def request_team(request):
    """The team an API request acts in: the token's team, or the console's current team."""
    from mediabao.accounts.permissions import request_membership

    membership = request_membership(request)
    return membership.team if membership else None


class TeamScopedMixin:
    """For DRF views: ``get_queryset`` is always the model's ``for_team`` of the request."""

    scoped_model = None  # a TeamOwned model

    def get_team(self):
        return request_team(self.request)

    def get_base_queryset(self):
        return self.scoped_model.objects.all()

    def get_queryset(self):
        return self.get_base_queryset().for_team(self.get_team())
