"""Writes of the audit log: :func:`record` is called by the apps after an operator action."""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any

from django.db import models

from mediabao.audit.context import current_request
from mediabao.audit.models import AuditEntry

log = logging.getLogger(__name__)

MAX_DETAILS_CHARS = 2000
_FROM_REQUEST: Any = object()


def _request_user():
    request = current_request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


def _request_ip() -> str | None:
    request = current_request.get()
    if request is None:
        return None
    from mediabao.accounts.throttle import client_ip

    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:
        return None


def _short(details: dict | None) -> dict:
    if not details:
        return {}
    text = json.dumps(details, ensure_ascii=False, default=str)
    if len(text) > MAX_DETAILS_CHARS:
        return {"truncated": True, "keys": sorted(map(str, details))[:20]}
    return json.loads(text)


def record(team: Any, action: str, target: models.Model | None = None, *, actor: Any = _FROM_REQUEST,
           label: str = "", details: dict | None = None, target_type: str = "",
           target_id: Any = "") -> AuditEntry | None:
    """Write one entry of ``team``'s audit log.

    ``actor`` defaults to the user of the request being served (``None`` outside a request:
    a system action); the IP is the request's client address. ``target`` fills the type, id
    and label (its ``str``) unless they are given. Nothing is written without a team.
    """
    if team is None:
        return None
    if actor is _FROM_REQUEST:
        actor = _request_user()
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or target.pk
        label = label or str(target)
    return AuditEntry.objects.create(
        team=team, actor=actor, actor_name=getattr(actor, "username", "") if actor else "",
        action=action, target_type=target_type[:40], target_id=str(target_id or "")[:64],
        target_label=str(label)[:200], details=_short(details), ip=_request_ip())
