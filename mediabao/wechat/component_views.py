"""Views of the third-party platform flow: start, return from WeChat, notifications."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from mediabao.accounts.models import MANAGER_ROLES
from mediabao.wechat import component, crypto
from mediabao.wechat.errors import WeChatError
from mediabao.wechat.messages import InvalidXML, parse_xml

log = logging.getLogger(__name__)
STATE_SALT = "mediabao.wechat.component.state"
STATE_MAX_AGE = 3600
MAX_NOTIFY_BYTES = 64 * 1024


@login_required
@require_POST
def start(request: HttpRequest) -> HttpResponse:
    """"授权公众号": off to WeChat's authorize page with a signed note of who asked."""
    if request.membership is None or request.membership.role not in MANAGER_ROLES:
        messages.error(request, _("Only team owners and admins can do this."))
        return redirect("web:accounts")
    state = signing.dumps({"team": request.team.id, "user": request.user.id}, salt=STATE_SALT)
    back = f"{settings.PUBLIC_BASE_URL}{reverse('wechat_component:return')}?state={state}"
    try:
        return redirect(component.authorize_url(back))
    except WeChatError as exc:
        messages.error(request, _("WeChat authorization could not start: %(reason)s")
                       % {"reason": exc.meaning if exc.errcode else str(exc)})
        return redirect("web:accounts")


@login_required
@require_GET
def authorized(request: HttpRequest) -> HttpResponse:
    """WeChat sends the operator back here with ``auth_code``."""
    try:
        state = signing.loads(request.GET.get("state", ""), salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature:
        messages.error(request, _("The authorization link expired or was altered. Please start again."))
        return redirect("web:accounts")
    if state.get("user") != request.user.id or request.team is None or state.get("team") != request.team.id:
        messages.error(request, _("Please finish the authorization in the team that started it."))
        return redirect("web:accounts")
    code = request.GET.get("auth_code", "")
    if not code:
        messages.error(request, _("WeChat did not confirm the authorization."))
        return redirect("web:accounts")
    try:
        account = component.complete_authorization(request.team, code)
    except WeChatError as exc:
        messages.error(request, _("The authorization failed: %(reason)s") % {"reason": exc.meaning})
        return redirect("web:accounts")
    messages.success(request, _("%(name)s is connected.") % {"name": account.name})
    return redirect("web:account_detail", pk=account.pk)


@csrf_exempt  # WeChat signs these pushes; it cannot send a CSRF token
@require_POST
def notify(request: HttpRequest) -> HttpResponse:
    """The authorization-event URL: tickets and (un)authorizations, always encrypted."""
    try:
        cfg = component.config()
    except component.ComponentNotConfigured:
        return HttpResponse("not configured", status=404, content_type="text/plain")
    body = request.read(MAX_NOTIFY_BYTES + 1)
    if len(body) > MAX_NOTIFY_BYTES:
        return HttpResponse("body too large", status=400, content_type="text/plain")
    query = request.GET
    try:
        crypto.check_signature(cfg.token, query.get("signature", ""), query.get("timestamp", ""),
                               query.get("nonce", ""))
        outer = parse_xml(body)
        encrypted = outer.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            return HttpResponse("no Encrypt element", status=400, content_type="text/plain")
        mc = crypto.MessageCrypto(cfg.token, cfg.aes_key, cfg.appid)
        message = parse_xml(mc.decrypt_message(query.get("msg_signature", ""),
                                               query.get("timestamp", ""), query.get("nonce", ""),
                                               encrypted))
    except (crypto.InvalidSignature, crypto.InvalidAppId) as exc:
        log.warning("component push rejected: %s", exc)
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    except (InvalidXML, crypto.CryptoError) as exc:
        log.warning("component push unreadable: %s", exc)
        return HttpResponse("bad request", status=400, content_type="text/plain")
    component.handle_notification(message)
    return HttpResponse("success", content_type="text/plain")
