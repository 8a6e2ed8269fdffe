"""Template messages: management, ``message/template/send`` and its job-finish push."""

from __future__ import annotations

from ..errors import WxError
from ..state import rand_str
from ..templates import LIBRARY, Template, category_keys_for
from . import Ctx, endpoint, str_field

DEDUP_SECONDS = 600
MAX_TEMPLATES = 25


def new_template_id() -> str:
    return rand_str(43, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@endpoint("/cgi-bin/template/get_all_private_template", service=True)
async def get_all(ctx: Ctx) -> dict:
    return {"template_list": [t.as_api() for t in ctx.acct.templates.values()]}


@endpoint("/cgi-bin/template/api_add_template", ("POST",), service=True, verified=True)
async def add_template(ctx: Ctx) -> dict:
    body = await ctx.json()
    short = str_field(body, "template_id_short", 40037)
    names = body.get("keyword_name_list")
    acct = ctx.acct
    if len(acct.templates) >= MAX_TEMPLATES:
        raise WxError(45026)
    if short.isdigit():
        if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and n for n in names
        ):
            raise WxError(40246)
        keys = category_keys_for(names)
        content = "\n".join(f"{n}:{{{{{k}.DATA}}}}" for n, k in zip(names, keys, strict=True))
        tpl = Template(new_template_id(), f"类目模板{short}", content, "category", keys=keys)
    elif short in LIBRARY:
        title, content = LIBRARY[short]
        tpl = Template(new_template_id(), title, content, "legacy")
    elif short.startswith(("TM", "OPENTM")) and short[2:].lstrip("ENTM").isdigit():
        content = "{{first.DATA}}\n内容：{{keyword1.DATA}}\n时间：{{keyword2.DATA}}\n{{remark.DATA}}"
        tpl = Template(new_template_id(), f"模板{short}", content, "legacy")
    else:
        raise WxError(40037)
    acct.templates[tpl.template_id] = tpl
    return {"errcode": 0, "errmsg": "ok", "template_id": tpl.template_id}


@endpoint("/cgi-bin/template/del_private_template", ("POST",), service=True)
async def del_template(ctx: Ctx) -> dict:
    body = await ctx.json()
    tid = str_field(body, "template_id", 40037)
    if ctx.acct.templates.pop(tid, None) is None:
        raise WxError(40037)
    return {"errcode": 0, "errmsg": "ok"}


@endpoint("/cgi-bin/template/api_set_industry", ("POST",), service=True)
async def set_industry(ctx: Ctx) -> dict:
    body = await ctx.json()
    ctx.acct.industry = (str(body.get("industry_id1", "1")), str(body.get("industry_id2", "2")))
    return {"errcode": 0, "errmsg": "ok"}


@endpoint("/cgi-bin/template/get_industry", service=True)
async def get_industry(ctx: Ctx) -> dict:
    return {
        "primary_industry": {"first_class": "IT科技", "second_class": "互联网|电子商务"},
        "secondary_industry": {"first_class": "IT科技", "second_class": "IT软件与服务"},
    }


@endpoint("/cgi-bin/message/template/send", ("POST",), quota="message/template/send",
          service=True, verified=True)
async def send(ctx: Ctx) -> dict:
    body = await ctx.json()
    acct = ctx.acct
    sim = ctx.sim
    fans = acct.fans
    touser = body.get("touser")
    i = fans.index.get(touser) if isinstance(touser, str) else None
    if i is None:
        raise WxError(40003)
    tid = body.get("template_id")
    if not isinstance(tid, str) or not tid:
        raise WxError(40036)
    tpl = acct.templates.get(tid)
    if tpl is None:
        raise WxError(40037)
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise WxError(47001)
    now = sim.clock.now()
    cmid = body.get("client_msg_id")
    if cmid is not None:
        if not isinstance(cmid, str):
            raise WxError(47001)
        if len(cmid) > 64:
            raise WxError(45067)
        seen = acct.client_msg_ids.get((i, cmid))
        if seen is not None and seen[0] > now:
            return {"errcode": 0, "errmsg": "ok", "msgid": seen[1]}
    if not fans.subscribed[i]:
        raise WxError(43004)
    shown, text = tpl.render(data)
    msgid = sim.state.next_msgid()
    if cmid is not None:
        ids = acct.client_msg_ids
        # Entries are added in expiry order (a fixed window after a monotonic clock), so the
        # expired ones are at the front: drop them from there and stop at the first live
        # one. (Scanning the whole dict on every send once it was large made each send
        # cost O(entries): a 200,000-message day slowed the simulator to a crawl.)
        while ids:
            oldest = next(iter(ids))
            if ids[oldest][0] > now:
                break
            del ids[oldest]
        ids.pop((i, cmid), None)  # a resend after expiry goes to the back
        ids[(i, cmid)] = (now + DEDUP_SECONDS, msgid)
    status = "success"
    if i in fans.blocked:
        status = "failed:user block"
    elif sim.faults.template_system_failed(acct.appid):
        status = "failed: system failed"
    if status == "success" and acct.record_inbox:
        entry = {
            "seq": sim.state.next_seq(), "time": int(now), "channel": "template",
            "msgtype": "template", "msgid": msgid, "template_id": tid, "title": tpl.title,
            "data": shown, "text": text,
        }
        if "miniprogram" in body:
            entry["miniprogram"] = body["miniprogram"]
        elif "url" in body:
            entry["url"] = body["url"]
        fans.deliver(i, entry)
    if acct.pushes_enabled and acct.template_finish_push:
        sim.pusher.enqueue_template_finish(acct, touser, msgid, status, int(now))
    return {"errcode": 0, "errmsg": "ok", "msgid": msgid}


def make_template(title: str, content: str, kind: str | None = None) -> Template:
    """Used by the control API to create templates directly."""
    from ..templates import is_category_content

    k = kind or ("category" if is_category_content(content) else "legacy")
    if k not in ("legacy", "category"):
        raise ValueError("kind must be legacy or category")
    return Template(new_template_id(), title, content, k)
