"""Serving a fan's poster image (``/c/poster/<token>.jpg``): the hot path of 任务宝's H5 page.

The request path, in order:

1. The signed H5 token (``services.h5_token``) names the participant; a forged or damaged
   token is a 404, so nobody can reach, or enumerate, another fan's poster.
2. One small SQL statement reads what decides whether the stored poster is current: the
   participant's poster path and key, QR url and expiry, nickname and avatar, and the
   activity's layout and background. It is written by hand on purpose: the same lookup
   through the ORM (``select_related`` or ``values_list`` with a join) costs about 1 ms of
   query compilation per request, four times the database round trip itself.
3. The poster key is computed again from those inputs (``services.poster_version``). A
   poster whose inputs changed (the operator edited the layout or background, a new
   nickname or avatar) or whose QR code is within ``QR_RENEW_MARGIN`` of its 30-day expiry
   is made again right here (``services.ensure_poster`` under a short Redis lock, so two
   requests do not both ask WeChat for a new code); the stale file is never served.
4. The file goes out with a strong ``ETag`` (the poster key) and ``Last-Modified``; an
   ``If-None-Match`` that matches is a 304 without touching the file. The H5 page links
   ``?v=<key>``: that URL names one poster version, so it is cached for a year
   (``immutable``); any other URL (no or an old ``v``) must be revalidated (``no-cache``).
   Both are ``private``: shared caches never keep a fan's poster.

A participant row that is gone (removed, or its activity deleted) is a 404 even though
its file may still be on disk; a participant who never had a poster (only assisted) is a
404 too: this path re-makes posters, it never makes a first one.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.http import http_date, parse_etags

from mediabao.campaigns import services
from mediabao.campaigns.models import Activity, Participant
from mediabao.wechat.errors import WeChatError

log = logging.getLogger(__name__)

#: ``?v=<poster key>``: a URL that names one poster version never changes.
IMMUTABLE = "private, max-age=31536000, immutable"
#: Without (or with an outdated) ``v`` the content under the URL can change: revalidate.
REVALIDATE = "private, no-cache"
MAKE_LOCK_SECONDS = 30
RETRY_AFTER_SECONDS = 60


class PosterUnavailable(Exception):
    """The poster needed making again and that failed (WeChat or the renderer)."""


@dataclass(frozen=True)
class PosterState:
    path: str
    key: str
    current: bool


@functools.cache
def _state_sql() -> str:
    q = connection.ops.quote_name
    p, a = Participant._meta, Activity._meta

    def pcol(name: str) -> str:
        return "p." + q(p.get_field(name).column)

    def acol(name: str) -> str:
        return "a." + q(a.get_field(name).column)

    columns = [pcol("poster_path"), pcol("poster_key"), pcol("qr_url"), pcol("qr_expires_at"),
               pcol("nickname"), pcol("avatar_url"), acol("poster_layout"), acol("poster_background")]
    # Only the models' own (quoted) table and column names go in; the id is a parameter.
    return (f"SELECT {', '.join(columns)} FROM {q(p.db_table)} p "  # noqa: S608
            f"JOIN {q(a.db_table)} a ON a.{q(a.pk.column)} = {pcol('activity')} "
            f"WHERE p.{q(p.pk.column)} = %s")


@functools.lru_cache(maxsize=512)
def _layout_digest(layout: str | None) -> str:
    from mediabao.campaigns.posters import PosterLayout

    data = json.loads(layout) if isinstance(layout, str) else None
    return PosterLayout.from_dict(data or {}).digest()


def lookup(pk: int, now: datetime | None = None) -> PosterState | None:
    """The participant's stored poster and whether it is current; None: no such participant."""
    with connection.cursor() as cursor:
        cursor.execute(_state_sql(), [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    path, key, qr_url, qr_expires_at, nickname, avatar_url, layout, background = row
    if not isinstance(layout, str | type(None)):  # a driver that decodes jsonb itself
        layout = json.dumps(layout)
    try:
        wanted = services.poster_version(_layout_digest(layout), background or "", qr_url, nickname,
                                         avatar_url)
    except Exception:  # a layout that no longer validates: making it again says why (503)
        log.warning("poster layout of participant %s unreadable", pk, exc_info=True)
        wanted = None
    current = (bool(path) and key == wanted
               and services.qr_is_current(qr_url, qr_expires_at, now))
    return PosterState(path=path, key=key, current=current)


def make_again(pk: int) -> PosterState | None:
    """Draw the participant's poster again (new QR code if due); one maker at a time."""
    lock = f"campaigns:poster-make:{pk}"
    try:
        held = bool(cache.add(lock, 1, timeout=MAKE_LOCK_SECONDS))
        if not held:  # someone else is making it: wait for them, then find it made
            deadline = time.monotonic() + MAKE_LOCK_SECONDS
            while time.monotonic() < deadline and cache.get(lock) is not None:
                time.sleep(0.05)
    except Exception:  # Redis away: make it without the lock rather than not at all
        log.warning("poster lock unavailable for participant %s", pk, exc_info=True)
        held = False
    try:
        participant = Participant.objects.select_related("activity", "account").filter(pk=pk).first()
        if participant is None or not participant.poster_path:
            return None
        try:
            services.ensure_poster(participant)
        except WeChatError as exc:
            log.warning("poster QR code renewal failed for participant %s: %s", pk, exc)
            raise PosterUnavailable from exc
        except Exception as exc:  # renderer refusals (font, background): a 503, not a 500
            log.exception("poster rendering failed for participant %s", pk)
            raise PosterUnavailable from exc
        return PosterState(path=participant.poster_path, key=participant.poster_key, current=True)
    finally:
        if held:
            cache.delete(lock)


def _made_again(pk: int) -> PosterState:
    state = make_again(pk)
    if state is None:
        raise Http404
    return state


def _open(state: PosterState):
    try:
        return (Path(settings.MEDIA_ROOT) / state.path).open("rb")
    except FileNotFoundError:
        return None


def _headers(response: HttpResponse, request: HttpRequest, state: PosterState) -> HttpResponse:
    response["ETag"] = f'"{state.key}"'
    response["Cache-Control"] = IMMUTABLE if request.GET.get("v") == state.key else REVALIDATE
    return response


def _unavailable() -> HttpResponse:
    response = HttpResponse(status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def serve(request: HttpRequest, token: str) -> HttpResponse:
    pk = services.participant_pk_from_token(token)
    if pk is None:
        raise Http404
    state = lookup(pk)
    if state is None or not state.path:
        raise Http404
    try:
        if not state.current:
            state = _made_again(pk)
        if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
        if if_none_match and (f'"{state.key}"' in parse_etags(if_none_match) or if_none_match.strip() == "*"):
            return _headers(HttpResponseNotModified(), request, state)
        handle = _open(state)
        if handle is None:  # the file went (media folder cleaned): make it again
            state = _made_again(pk)
            handle = _open(state)
            if handle is None:
                raise Http404
    except PosterUnavailable:
        return _unavailable()
    response = FileResponse(handle, content_type="image/jpeg", filename="poster.jpg")
    response["Last-Modified"] = http_date(os.fstat(handle.fileno()).st_mtime)
    return _headers(response, request, state)
