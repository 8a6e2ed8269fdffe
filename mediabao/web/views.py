"""The console shell: dashboard and friendly error pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from mediabao.core.api import error_body
from mediabao.web import selectors


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    if request.team is None:
        return redirect("accounts:team_create")
    return render(request, "web/dashboard.html", {"counts": selectors.dashboard_counts(request.team)})


def _error(request: HttpRequest, status: int, code: str, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(code, message), status=status)
    return render(request, "web/error.html", {"title": title, "message": message}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 404, "not_found", _("Not found"),
                  _("The page or object does not exist, or it belongs to another team."))


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(request, 500, "server_error", _("Something went wrong"),
                  _("Internal error. Please try again later."))


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 403, "forbidden", _("Not allowed"),
                  _("You do not have permission to do this."))


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(request, 400, "bad_request", _("Bad request"),
                  _("The request could not be understood."))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _error(request, 403, "csrf_failed", _("Form expired"),
                  _("The form was not accepted (missing or stale security token). "
                    "Please reload the page and try again."))
