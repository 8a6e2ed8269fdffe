"""The control API under ``/_sim/``: what tests and demos use to drive WeChat.

JSON in, JSON out. Errors are ``{"ok": false, "error": "..."}`` with a 4xx status.
Documented in ``wxsim/README.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import web

from . import actions, names
from .api.component import AuthorizeError, authorize, push_ticket, unauthorize
from .api.template import make_template
from .browser import Browser
from .crowd import CrowdConfig
from .crypto import check_encoding_aes_key, random_encoding_aes_key
from .keys import SIM
from .state import DEFAULT_LIMITS, SCENES, Component, rand_str

log = logging.getLogger("wxsim.control")
MAX_FANS_PER_CALL = 2_000_000
ACCOUNT_FIELDS = ("secret", "token", "encoding_aes_key", "server_url", "type", "verified",
                  "encrypt_mode", "name", "original_id", "pushes_enabled",
                  "template_finish_push", "record_inbox", "qr_permanent_cap")


class ControlError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def ok(data: Any = None, **kw: Any) -> web.Response:
    body = {"ok": True, **(data or {}), **kw}
    return web.Response(body=json.dumps(body, ensure_ascii=False, default=str).encode(),
                        content_type="application/json")


async def body_of(request: web.Request) -> dict:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ControlError("JSON body must be an object")
    return data


def control_guard(handler: Any) -> Any:
    """Turn control-API exceptions into ``{"ok": false, "error": ...}`` with a 4xx/500."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ControlError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=exc.status)
        except actions.ActionError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=409)
        except (ValueError, TypeError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        except KeyError as exc:
            return web.json_response({"ok": False, "error": f"not found: {exc}"}, status=404)
        except (web.HTTPException, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("control API error for %s %s", request.method, request.path)
            return web.json_response({"ok": False, "error": "internal error (see wxsim log)"},
                                     status=500)

    return guarded


def _sim(request: web.Request) -> Any:
    return request.app[SIM]


def _acct(request: web.Request) -> Any:
    appid = request.match_info["appid"]
    acct = _sim(request).state.accounts.get(appid)
    if acct is None:
        raise ControlError(f"unknown account {appid}", 404)
    return acct


def _fan(request: web.Request, acct: Any) -> int:
    openid = request.match_info["openid"]
    i = acct.fans.index.get(openid)
    if i is None:
        raise ControlError(f"unknown fan {openid}", 404)
    return i


def _validate_account(d: dict) -> None:
    if "type" in d and d["type"] not in ("service", "subscription"):
        raise ControlError("type must be service or subscription")
    if "encrypt_mode" in d and d["encrypt_mode"] not in ("plain", "compat", "safe"):
        raise ControlError("encrypt_mode must be plain, compat or safe")
    if "encoding_aes_key" in d and not check_encoding_aes_key(str(d["encoding_aes_key"])):
        raise ControlError("encoding_aes_key must be 43 characters of [A-Za-z0-9]")
    for b in ("verified", "pushes_enabled", "template_finish_push", "record_inbox"):
        if b in d and not isinstance(d[b], bool):
            raise ControlError(f"{b} must be a boolean")


# --- general -----------------------------------------------------------------

async def info(request: web.Request) -> web.Response:
    sim = _sim(request)
    st = sim.state
    return ok({
        "name": "wxsim", "control_url": f"{sim.base_url}/_sim/", "api_base": sim.base_url,
        "clock": sim.clock.now(), "clock_offset": sim.clock.offset,
        "accounts": len(st.accounts), "components": len(st.components),
        "fans": sum(len(a.fans) for a in st.accounts.values()),
        "push": {"timeout": sim.pusher.timeout, "retries": sim.pusher.retries,
                 "queued": sim.pusher.queue.qsize(), "sent": sim.pusher.sent,
                 "dropped": sim.pusher.dropped},
        "uptime_s": round(time.time() - sim.started_at, 1),
    })


async def clock_get(request: web.Request) -> web.Response:
    c = _sim(request).clock
    return ok(now=c.now(), offset=c.offset)


async def clock_advance(request: web.Request) -> web.Response:
    body = await body_of(request)
    secs = body.get("seconds")
    if not isinstance(secs, (int, float)) or secs < 0:
        raise ControlError("seconds must be a non-negative number")
    c = _sim(request).clock
    c.advance(float(secs))
    return ok(now=c.now(), offset=c.offset)


async def reset(request: web.Request) -> web.Response:
    sim = _sim(request)
    await sim.crowd.stop_all()
    from .state import State

    fresh = State(sim.clock)
    sim.clock.offset = 0.0
    st = sim.state
    call_log = st.call_log  # the API wrappers hold this deque's append
    st.__dict__.update(fresh.__dict__)
    st.call_log = call_log
    call_log.clear()
    sim.faults.clear()
    return ok()


async def save_state(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await body_of(request)
    path = body.get("path") or sim.state_file
    if not path:
        raise ControlError("no path given and wxsim was started without --state-file")
    sim.state.save(path)
    return ok(path=path)


async def push_config(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await body_of(request)
    if "timeout" in body:
        t = body["timeout"]
        if not isinstance(t, (int, float)) or not 0 < t <= 60:
            raise ControlError("timeout must be within (0, 60]")
        sim.pusher.timeout = float(t)
    if "retries" in body:
        r = body["retries"]
        if not isinstance(r, int) or not 0 <= r <= 10:
            raise ControlError("retries must be within 0..10")
        sim.pusher.retries = r
    if "ticket_interval" in body:
        sim.ticket_interval = float(body["ticket_interval"])
    return ok(timeout=sim.pusher.timeout, retries=sim.pusher.retries,
              ticket_interval=sim.ticket_interval)


async def push_drain(request: web.Request) -> web.Response:
    body = await body_of(request)
    done = await _sim(request).pusher.drain(float(body.get("timeout", 10)))
    return ok(drained=done)


async def pushes(request: web.Request) -> web.Response:
    sim = _sim(request)
    appid = request.query.get("appid")
    limit = int(request.query.get("limit", 100))
    items = [p for p in sim.state.push_log if not appid or p["appid"] == appid]
    return ok(pushes=items[-limit:])


async def calls(request: web.Request) -> web.Response:
    st = _sim(request).state
    appid = request.query.get("appid")
    ep = request.query.get("endpoint")
    limit = int(request.query.get("limit", 100))
    out = []
    for t, a, e, code, dt in reversed(st.call_log):
        if (appid and a != appid) or (ep and e != ep):
            continue
        out.append({"time": t, "appid": a, "endpoint": e, "errcode": code,
                    "ms": round(dt * 1000, 3)})
        if len(out) >= limit:
            break
    return ok(calls=out[::-1])


async def counters(request: web.Request) -> web.Response:
    st = _sim(request).state
    out = {}
    for ep, codes in st.counters.items():
        out[ep] = {"total": sum(codes.values()), "by_errcode": {str(k): v for k, v in codes.items()}}
    return ok(counters=out)


async def counters_reset(request: web.Request) -> web.Response:
    st = _sim(request).state
    st.counters.clear()
    st.call_log.clear()
    st.push_log.clear()
    return ok()


# --- accounts ----------------------------------------------------------------

async def account_create(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await body_of(request)
    _validate_account(body)
    unknown = set(body) - set(ACCOUNT_FIELDS) - {"appid"}
    if unknown:
        raise ControlError(f"unknown fields: {sorted(unknown)}")
    if "appid" in body and body["appid"] in sim.state.accounts:
        raise ControlError(f"account {body['appid']} exists", 409)
    acct = sim.state.create_account(**body)
    return ok(account=acct.public())


async def account_list(request: web.Request) -> web.Response:
    return ok(accounts=[a.public() for a in _sim(request).state.accounts.values()])


async def account_get(request: web.Request) -> web.Response:
    acct = _acct(request)
    return ok(account=acct.public())


async def account_patch(request: web.Request) -> web.Response:
    acct = _acct(request)
    body = await body_of(request)
    _validate_account(body)
    unknown = set(body) - set(ACCOUNT_FIELDS)
    if unknown:
        raise ControlError(f"unknown fields: {sorted(unknown)}")
    for k, v in body.items():
        setattr(acct, k, v)
    return ok(account=acct.public())


async def expire_tokens(request: web.Request) -> web.Response:
    acct = _acct(request)
    n = _sim(request).state.expire_tokens(acct.appid)
    return ok(expired=n)


async def quota(request: web.Request) -> web.Response:
    acct = _acct(request)
    sim = _sim(request)
    if request.method == "POST":
        body = await body_of(request)
        ep = body.get("endpoint")
        if not isinstance(ep, str) or not ep:
            raise ControlError("endpoint is required (e.g. message/template/send)")
        day = sim.clock.day()
        if acct.quota_day != day:
            acct.quota_day = day
            acct.quota_used.clear()
        if "limit" in body:
            acct.limits[ep] = int(body["limit"])
        if body.get("exhaust"):
            limit = acct.limits.get(ep, DEFAULT_LIMITS.get(ep, 0))
            if not limit:
                acct.limits[ep] = limit = 1
            acct.quota_used[ep] = limit
        if "used" in body:
            acct.quota_used[ep] = int(body["used"])
        if body.get("reset"):
            acct.quota_used.pop(ep, None)
    limits = {**DEFAULT_LIMITS, **acct.limits}
    return ok(used=acct.quota_used, limits=limits)


async def templates(request: web.Request) -> web.Response:
    acct = _acct(request)
    if request.method == "POST":
        body = await body_of(request)
        title, content = body.get("title"), body.get("content")
        if not isinstance(title, str) or not isinstance(content, str) or not content:
            raise ControlError("title and content are required strings")
        tpl = make_template(title, content, body.get("kind"))
        if isinstance(body.get("template_id"), str) and body["template_id"]:
            tpl.template_id = body["template_id"]
        acct.templates[tpl.template_id] = tpl
        return ok(template=tpl.to_dict())
    return ok(templates=[t.to_dict() for t in acct.templates.values()])


async def qrcodes(request: web.Request) -> web.Response:
    acct = _acct(request)
    return ok(qrcodes=[q.to_dict() for q in acct.qrcodes.values()],
              permanent=len(acct.permanent_by_scene))


# --- fans --------------------------------------------------------------------

def fan_view(sim: Any, acct: Any, i: int, full: bool = True) -> dict:
    fans = acct.fans
    d = {
        "openid": fans.openids[i], "index": i, "following": bool(fans.subscribed[i]),
        "nickname": fans.nickname(i), "subscribe_time": fans.sub_time[i],
        "subscribe_scene": SCENES[fans.scene[i]],
    }
    if full:
        qr = fans.qr_scene.get(i)
        d.update({
            "unionid": fans.unionid(i), "remark": fans.remark.get(i, ""),
            "qr_scene": qr[0] if qr else 0, "qr_scene_str": qr[1] if qr else "",
            "blocked": i in fans.blocked,
            "headimgurl": f"{sim.base_url}/mmopen/{acct.appid}/{fans.openids[i]}/132",
            "windows": {k: {"expires_at": v[0], "remaining": v[1]}
                        for k, v in fans.windows.get(i, {}).items()},
            "inbox_count": len(fans.inbox.get(i, ())),
            **names.profile(fans.seed, i),
        })
    return d


async def fans_create(request: web.Request) -> web.Response:
    sim = _sim(request)
    acct = _acct(request)
    body = await body_of(request)
    count = body.get("count", 1)
    if not isinstance(count, int) or not 1 <= count <= MAX_FANS_PER_CALL:
        raise ControlError(f"count must be within 1..{MAX_FANS_PER_CALL}")
    following = body.get("following", True)
    now = sim.clock.now_int()
    t1 = int(body.get("subscribe_time_to", now))
    t0 = int(body.get("subscribe_time_from", t1 - 365 * 86400))
    if t0 > t1:
        raise ControlError("subscribe_time_from must be <= subscribe_time_to")
    fans = acct.fans
    start = len(fans)
    if count == 1 and (body.get("openid") or body.get("nickname")):
        i = fans.add(bool(following), t1 if following else 0,
                     SCENES.index(body.get("scene", "ADD_SCENE_SEARCH")),
                     openid=body.get("openid") or None)
        if body.get("nickname"):
            fans.nick[i] = str(body["nickname"])
    else:
        seed = int(body.get("seed", start + 1))
        done = 0
        while done < count:  # chunks keep the event loop responsive for 1M fans
            n = min(50_000, count - done)
            fans.add_many(n, bool(following), t0, t1, seed + done)
            done += n
            await asyncio.sleep(0)
    end = len(fans)
    out: dict = {"created": end - start, "first_index": start, "total": end,
                 "following": fans.following}
    if end - start <= 1000:
        out["openids"] = fans.openids[start:end]
    else:
        out["first_openid"] = fans.openids[start]
        out["last_openid"] = fans.openids[end - 1]
    return ok(out)


async def fans_list(request: web.Request) -> web.Response:
    sim = _sim(request)
    acct = _acct(request)
    offset = int(request.query.get("offset", 0))
    limit = min(int(request.query.get("limit", 100)), 1000)
    detail = request.query.get("detail", "")
    items = []
    for i in range(offset, min(len(acct.fans), offset + limit)):
        item = fan_view(sim, acct, i, full=False)
        if detail:  # ground truth in bulk: how the fan followed and what it received
            qr = acct.fans.qr_scene.get(i)
            box = list(acct.fans.inbox.get(i, ()))
            by_channel: dict[str, int] = {}
            for m in box:
                by_channel[m["channel"]] = by_channel.get(m["channel"], 0) + 1
            item.update(qr_scene_str=qr[1] if qr else "", inbox_by_channel=by_channel)
            if detail == "inbox":
                item["inbox"] = box
        items.append(item)
    return ok(total=len(acct.fans), following=acct.fans.following, fans=items)


async def fan_get(request: web.Request) -> web.Response:
    acct = _acct(request)
    return ok(fan=fan_view(_sim(request), acct, _fan(request, acct)))


async def fan_inbox(request: web.Request) -> web.Response:
    acct = _acct(request)
    i = _fan(request, acct)
    since = int(request.query.get("since", 0))
    channel = request.query.get("channel")
    items = [m for m in acct.fans.inbox.get(i, ()) if m["seq"] > since
             and (not channel or m["channel"] == channel)]
    return ok(openid=acct.fans.openids[i], messages=items)


async def fan_action(request: web.Request) -> web.Response:
    sim = _sim(request)
    acct = _acct(request)
    i = _fan(request, acct)
    action = request.match_info["action"]
    body = await body_of(request)
    if action == "block":
        acct.fans.blocked.add(i)
        return ok()
    if action == "unblock":
        acct.fans.blocked.discard(i)
        return ok()
    if action == "open":
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise ControlError("url is required")
        res = await browser_of(sim).open(url, acct, i, pick=str(body.get("pick", "")))
        return ok(result=res)
    coro = _action_coro(sim, acct, i, action, body)
    if body.get("wait", True) is False:
        sim.spawn(coro)
        return ok(queued=True)
    res = await coro
    if action == "view" and body.get("open", True):
        res["page"] = await browser_of(sim).open(body["url"], acct, i)
    return ok(result=res)


def _action_coro(sim: Any, acct: Any, i: int, action: str, body: dict) -> Any:
    if action == "text":
        content = body.get("content")
        if not isinstance(content, str) or not content:
            raise ControlError("content is required")
        return actions.send_text(sim, acct, i, content)
    if action == "image":
        return actions.send_image(sim, acct, i, str(body.get("pic_url", "")))
    if action == "subscribe":
        ticket = body.get("ticket")
        if ticket:
            actions.resolve_ticket(sim, acct, ticket)
        elif acct.fans.subscribed[i]:
            raise actions.ActionError("the fan already follows")
        return actions.subscribe(sim, acct, i, ticket, body.get("scene", "ADD_SCENE_SEARCH"))
    if action == "scan":
        ticket = body.get("ticket")
        if not isinstance(ticket, str) or not ticket:
            raise ControlError("ticket is required (ticket, url or code)")
        actions.resolve_ticket(sim, acct, ticket)
        return actions.scan(sim, acct, i, ticket)
    if action == "unsubscribe":
        if not acct.fans.subscribed[i]:
            raise actions.ActionError("the fan does not follow")
        return actions.unsubscribe(sim, acct, i)
    if action == "click":
        key = body.get("key")
        if not isinstance(key, str):
            raise ControlError("key is required")
        return actions.click(sim, acct, i, key)
    if action == "view":
        url = body.get("url")
        if not isinstance(url, str) or not url:
            raise ControlError("url is required")
        return actions.view(sim, acct, i, url)
    raise ControlError(f"unknown action {action}", 404)


def browser_of(sim: Any) -> Browser:
    b = getattr(sim, "_browser", None)
    if b is None:
        b = sim._browser = Browser(sim)
    return b


async def browser_open(request: web.Request) -> web.Response:
    """Open a URL as an admin (component login page: pass ``pick``) or as a fan."""
    sim = _sim(request)
    body = await body_of(request)
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise ControlError("url is required")
    acct, fan = None, None
    if body.get("appid"):
        acct = sim.state.accounts.get(body["appid"])
        if acct is None:
            raise ControlError("unknown appid", 404)
        if body.get("openid"):
            fan = acct.fans.index.get(body["openid"])
            if fan is None:
                raise ControlError("unknown openid", 404)
    res = await browser_of(sim).open(url, acct, fan, pick=str(body.get("pick", "")))
    return ok(result=res)


async def media_file(request: web.Request) -> web.Response:
    sim = _sim(request)
    mid = request.match_info["media_id"]
    appid = sim.state.media_index.get(mid)
    m = sim.state.accounts[appid].media.get(mid) if appid else None
    if m is None:
        raise ControlError("unknown media", 404)
    return web.Response(body=m.data, content_type=m.content_type)


# --- faults ------------------------------------------------------------------

async def faults(request: web.Request) -> web.Response:
    sim = _sim(request)
    if request.method == "POST":
        body = await body_of(request)
        rule = sim.faults.add(**body)
        return ok(rule=rule.__dict__)
    if request.method == "DELETE":
        n = sim.faults.clear(request.query.get("endpoint"))
        return ok(removed=n)
    return ok(rules=sim.faults.list())


# --- components --------------------------------------------------------------

def _comp(request: web.Request) -> Component:
    cappid = request.match_info["cappid"]
    comp = _sim(request).state.components.get(cappid)
    if comp is None:
        raise ControlError(f"unknown component {cappid}", 404)
    return comp


async def component_create(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await body_of(request)
    allowed = {"component_appid", "component_appsecret", "token", "encoding_aes_key",
               "ticket_url", "msg_url", "name", "push_ticket"}
    unknown = set(body) - allowed
    if unknown:
        raise ControlError(f"unknown fields: {sorted(unknown)}")
    cappid = body.get("component_appid") or "wx" + rand_str(16, "0123456789abcdef")
    if cappid in sim.state.components or cappid in sim.state.accounts:
        raise ControlError(f"appid {cappid} exists", 409)
    key = body.get("encoding_aes_key") or random_encoding_aes_key()
    if not check_encoding_aes_key(key):
        raise ControlError("encoding_aes_key must be 43 characters of [A-Za-z0-9]")
    comp = Component(cappid, body.get("component_appsecret") or rand_str(32),
                     body.get("token") or rand_str(32), key, body.get("ticket_url", ""),
                     body.get("msg_url", ""), body.get("name") or f"模拟第三方平台{cappid[-4:]}")
    sim.state.components[cappid] = comp
    out: dict = {"component": comp.public()}
    if body.get("push_ticket", True) and comp.ticket_url:
        out["ticket_push"] = await push_ticket(sim, comp)
        out["component"] = comp.public()
    return ok(out)


async def component_get(request: web.Request) -> web.Response:
    return ok(component=_comp(request).public())


async def component_patch(request: web.Request) -> web.Response:
    comp = _comp(request)
    body = await body_of(request)
    for k in ("ticket_url", "msg_url", "name"):
        if k in body:
            setattr(comp, k, str(body[k]))
    return ok(component=comp.public())


async def component_ticket(request: web.Request) -> web.Response:
    comp = _comp(request)
    res = await push_ticket(_sim(request), comp)
    return ok(result=res)


async def component_authorize(request: web.Request) -> web.Response:
    """Authorize an account without a browser: give ``url`` (the login page link) or
    ``pre_auth_code`` + ``redirect_uri``; the admin picks ``authorizer_appid``."""
    sim = _sim(request)
    comp = _comp(request)
    body = await body_of(request)
    appid = body.get("authorizer_appid")
    if not isinstance(appid, str) or appid not in sim.state.accounts:
        raise ControlError("authorizer_appid must be an existing account")
    if body.get("url"):
        res = await browser_of(sim).open(body["url"], pick=appid)
        return ok(result=res)
    params = {"component_appid": comp.appid, "pre_auth_code": body.get("pre_auth_code", ""),
              "redirect_uri": body.get("redirect_uri", "http://127.0.0.1/")}
    try:
        loc = await authorize(sim, params, appid, body.get("func_ids"))
    except AuthorizeError as exc:
        raise ControlError(str(exc)) from exc
    return ok(location=loc)


async def component_unauthorize(request: web.Request) -> web.Response:
    comp = _comp(request)
    body = await body_of(request)
    appid = body.get("authorizer_appid")
    if appid not in comp.authorizations:
        raise ControlError("that account is not authorized to this component", 404)
    res = await unauthorize(_sim(request), comp, appid)
    return ok(result=res)


# --- crowd -------------------------------------------------------------------

async def crowd_start(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await body_of(request)
    known = set(CrowdConfig.__dataclass_fields__)
    unknown = set(body) - known
    if unknown:
        raise ControlError(f"unknown fields: {sorted(unknown)}")
    if body.get("appid") not in sim.state.accounts:
        raise ControlError("appid must be an existing account")
    run = sim.crowd.start(CrowdConfig(**body))
    return ok(run=run.status())


async def crowd_list(request: web.Request) -> web.Response:
    return ok(runs=[r.status() for r in _sim(request).crowd.runs.values()])


async def crowd_get(request: web.Request) -> web.Response:
    sim = _sim(request)
    run = sim.crowd.runs.get(int(request.match_info["run_id"]))
    if run is None:
        raise ControlError("unknown crowd run", 404)
    return ok(run=run.status())


async def crowd_stop(request: web.Request) -> web.Response:
    sim = _sim(request)
    rid = int(request.match_info["run_id"])
    if rid not in sim.crowd.runs:
        raise ControlError("unknown crowd run", 404)
    return ok(run=await sim.crowd.stop(rid))


async def not_found(request: web.Request) -> web.Response:
    raise ControlError(f"no control endpoint {request.method} {request.path}", 404)


class _GuardedRouter:
    """Registers every control route wrapped in :func:`control_guard`."""

    def __init__(self, router: web.UrlDispatcher) -> None:
        self.router = router

    def add_route(self, method: str, path: str, handler: Any) -> None:
        self.router.add_route(method, path, control_guard(handler))

    def add_get(self, path: str, handler: Any) -> None:
        self.router.add_get(path, control_guard(handler), allow_head=False)

    def add_post(self, path: str, handler: Any) -> None:
        self.add_route("POST", path, handler)

    def add_patch(self, path: str, handler: Any) -> None:
        self.add_route("PATCH", path, handler)

    def add_delete(self, path: str, handler: Any) -> None:
        self.add_route("DELETE", path, handler)


def setup_control(app: web.Application) -> None:
    r = _GuardedRouter(app.router)
    r.add_get("/_sim", info)
    r.add_get("/_sim/", info)
    r.add_get("/_sim/clock", clock_get)
    r.add_post("/_sim/clock/advance", clock_advance)
    r.add_post("/_sim/reset", reset)
    r.add_post("/_sim/state/save", save_state)
    r.add_post("/_sim/push/config", push_config)
    r.add_post("/_sim/push/drain", push_drain)
    r.add_get("/_sim/pushes", pushes)
    r.add_get("/_sim/calls", calls)
    r.add_get("/_sim/counters", counters)
    r.add_post("/_sim/counters/reset", counters_reset)
    r.add_post("/_sim/accounts", account_create)
    r.add_get("/_sim/accounts", account_list)
    r.add_get("/_sim/accounts/{appid}", account_get)
    r.add_patch("/_sim/accounts/{appid}", account_patch)
    r.add_post("/_sim/accounts/{appid}/expire_tokens", expire_tokens)
    r.add_route("*", "/_sim/accounts/{appid}/quota", quota)
    r.add_route("*", "/_sim/accounts/{appid}/templates", templates)
    r.add_get("/_sim/accounts/{appid}/qrcodes", qrcodes)
    r.add_post("/_sim/accounts/{appid}/fans", fans_create)
    r.add_get("/_sim/accounts/{appid}/fans", fans_list)
    r.add_get("/_sim/accounts/{appid}/fans/{openid}", fan_get)
    r.add_get("/_sim/accounts/{appid}/fans/{openid}/inbox", fan_inbox)
    r.add_post("/_sim/accounts/{appid}/fans/{openid}/{action}", fan_action)
    r.add_post("/_sim/browser/open", browser_open)
    r.add_get("/_sim/media/{media_id}", media_file)
    r.add_route("*", "/_sim/faults", faults)
    r.add_post("/_sim/components", component_create)
    r.add_get("/_sim/components/{cappid}", component_get)
    r.add_patch("/_sim/components/{cappid}", component_patch)
    r.add_post("/_sim/components/{cappid}/ticket", component_ticket)
    r.add_post("/_sim/components/{cappid}/authorize", component_authorize)
    r.add_post("/_sim/components/{cappid}/unauthorize", component_unauthorize)
    r.add_post("/_sim/crowd", crowd_start)
    r.add_get("/_sim/crowd", crowd_list)
    r.add_get("/_sim/crowd/{run_id}", crowd_get)
    r.add_delete("/_sim/crowd/{run_id}", crowd_stop)
    r.add_route("*", "/_sim/{tail:.*}", not_found)
