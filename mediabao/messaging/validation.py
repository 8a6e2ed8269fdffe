"""One validation of messages and audiences for the console forms and the REST API.

Each function returns the normalized value or raises :class:`Invalid` with per-field
errors, so a bad request is a 400 with field errors in the API and a re-rendered form
with messages in the console, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from django.utils.translation import gettext as _

from mediabao.messaging import rules
from mediabao.messaging.models import SendJob, Template, Upload
from mediabao.wechat.models import OfficialAccount

OPENID_RE = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
MAX_OPENIDS = 100_000
TEXT_MAX = 2000  # WeChat's text limit is 2048 bytes in some copies; stay clear of it
AUDIENCE_TYPES = ("all", "window", "tag", "openids", "fan", "campaign")


class Invalid(Exception):
    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.fields = fields


@dataclass
class Checked:
    value: dict
    warnings: list[str] = field(default_factory=list)
    preview: list[str] = field(default_factory=list)


def _url_ok(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and len(value) <= 1000


def template_for(team, account: OfficialAccount, ref: Any) -> Template | None:
    """A template of the account by our pk or by WeChat's template_id."""
    qs = Template.objects.for_team(team).filter(account=account, removed=False)
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 18):
        found = qs.filter(pk=int(ref)).first()
        if found:
            return found
    return qs.filter(template_id=str(ref)).first() if isinstance(ref, (str, int)) else None


def template_message(team, account: OfficialAccount, payload: Any) -> Checked:
    """{"template": pk|template_id, "data": {...}, "url"?, "miniprogram"?: {"appid", "pagepath"}}."""
    if not isinstance(payload, dict):
        raise Invalid({"message": [_("Must be an object.")]})
    errors: dict[str, Any] = {}
    template = template_for(team, account, payload.get("template") or payload.get("template_id"))
    if template is None:
        raise Invalid({"template": [_("Choose a template of this account.")]})
    result = rules.check(template.content, template.kind, payload.get("data", {}))
    if result.errors:
        errors["data"] = result.errors
    message: dict[str, Any] = {"template": template.pk, "template_id": template.template_id,
                               "data": rules.wire_data(payload.get("data") or {})
                               if isinstance(payload.get("data"), dict) else {}}
    url = payload.get("url") or ""
    if url:
        if not isinstance(url, str) or not _url_ok(url):
            errors["url"] = [_("Enter an http(s) link.")]
        else:
            message["url"] = url
    mini = payload.get("miniprogram") or None
    if mini:
        if not isinstance(mini, dict):
            errors["miniprogram"] = [_("Must be an object with appid and pagepath.")]
        else:
            appid, page = str(mini.get("appid") or ""), str(mini.get("pagepath") or "")
            if not re.fullmatch(r"wx[0-9a-zA-Z]{8,30}", appid):
                errors.setdefault("miniprogram", []).append(_("Enter the mini program's AppID."))
            if page and len(page) > 500:
                errors.setdefault("miniprogram", []).append(_("The page path is too long."))
            message["miniprogram"] = {"appid": appid, "pagepath": page}
    if errors:
        raise Invalid(errors)
    warnings = list(result.warnings)
    if url and mini:
        warnings.append(_("With both a link and a mini program, WeChat opens the mini program."))
    return Checked(message, warnings, result.lines)


def custom_message(team, account: OfficialAccount, payload: Any) -> Checked:
    """text {"content"}, image {"upload": pk} or news with exactly one article."""
    if not isinstance(payload, dict):
        raise Invalid({"message": [_("Must be an object.")]})
    msgtype = payload.get("msgtype")
    if msgtype == "text":
        content = (payload.get("text") or {}).get("content") if isinstance(payload.get("text"), dict) \
            else payload.get("content")
        if not isinstance(content, str) or not content.strip():
            raise Invalid({"content": [_("Enter the text.")]})
        if len(content) > TEXT_MAX:
            raise Invalid({"content": [_("At most %(n)d characters.") % {"n": TEXT_MAX}]})
        return Checked({"msgtype": "text", "text": {"content": content}}, preview=[content])
    if msgtype == "image":
        part = payload.get("image") if isinstance(payload.get("image"), dict) else payload
        ref = part.get("upload")
        upload = None
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            upload = Upload.objects.for_team(team).filter(account=account, pk=int(ref)).first()
        if upload is None:
            raise Invalid({"upload": [_("Upload an image for this account first.")]})
        return Checked({"msgtype": "image", "image": {"upload": upload.pk}}, preview=[upload.name])
    if msgtype == "news":
        news = payload.get("news") if isinstance(payload.get("news"), dict) else payload
        articles = news.get("articles")
        if articles is None and "title" in news:
            articles = [{k: news.get(k, "") for k in ("title", "description", "url", "picurl")}]
        if not isinstance(articles, list) or len(articles) != 1 or not isinstance(articles[0], dict):
            raise Invalid({"articles": [_("A news message carries exactly one article.")]})
        art = articles[0]
        errors: dict[str, list[str]] = {}
        title = art.get("title")
        if not isinstance(title, str) or not title.strip():
            errors["title"] = [_("Enter a title.")]
        elif len(title) > 64:
            errors["title"] = [_("At most %(n)d characters.") % {"n": 64}]
        description = art.get("description") or ""
        if not isinstance(description, str) or len(description) > 120:
            errors["description"] = [_("At most %(n)d characters.") % {"n": 120}]
        for key in ("url", "picurl"):
            value = art.get(key) or ""
            if key == "url" and not value or value and (not isinstance(value, str) or not _url_ok(value)):
                errors[key] = [_("Enter an http(s) link.")]
        if errors:
            raise Invalid(errors)
        article = {"title": title, "description": description, "url": art["url"],
                   "picurl": art.get("picurl") or ""}
        return Checked({"msgtype": "news", "news": {"articles": [article]}},
                       preview=[title, description])
    raise Invalid({"msgtype": [_("Choose text, image or news.")]})


def parse_openids(text: str | list) -> tuple[list[str], list[dict]]:
    """Valid openids (deduplicated, in order) and the bad lines ({"line", "value"})."""
    lines = text if isinstance(text, list) else str(text).splitlines()
    good: list[str] = []
    seen: set[str] = set()
    bad: list[dict] = []
    for n, raw in enumerate(lines, start=1):
        value = str(raw).strip().strip(",;").strip()
        if not value:
            continue
        if not OPENID_RE.match(value):
            bad.append({"line": n, "value": value[:80]})
        elif value not in seen:
            seen.add(value)
            good.append(value)
    return good, bad


def audience(team, account: OfficialAccount, payload: Any) -> Checked:
    """{"type": ..., "tag"?, "openids"? (list or text), "openid"?, "confirm"?}."""
    if not isinstance(payload, dict):
        raise Invalid({"audience": [_("Must be an object.")]})
    kind = payload.get("type")
    if kind not in AUDIENCE_TYPES:
        raise Invalid({"audience": {"type": [_("Choose who receives the message.")]}})
    if kind in ("all", "window"):
        return Checked({"type": kind})
    if kind == "tag":
        tag = payload.get("tag")
        try:
            tag = int(tag)
            if not 0 <= tag < 2**31:
                raise ValueError
        except (TypeError, ValueError):
            raise Invalid({"audience": {"tag": [_("Enter a tag id.")]}}) from None
        return Checked({"type": "tag", "tag": tag})
    if kind == "fan":
        openid = str(payload.get("openid") or "").strip()
        if not OPENID_RE.match(openid):
            raise Invalid({"audience": {"openid": [_("Enter an OpenID.")]}})
        return Checked({"type": "fan", "openid": openid})
    if kind == "campaign":
        from mediabao.messaging.audience import SOURCES

        if "campaign" not in SOURCES:
            raise Invalid({"audience": {"type": [_("Campaign audiences are not available yet.")]}})
        return Checked({"type": "campaign", "campaign": payload.get("campaign")})
    raw = payload.get("openids")
    if not isinstance(raw, (str, list)):
        raise Invalid({"audience": {"openids": [_("Paste one OpenID per line.")]}})
    good, bad = parse_openids(raw)
    if len(good) > MAX_OPENIDS:
        raise Invalid({"audience": {"openids": [_("At most %(n)d OpenIDs.") % {"n": MAX_OPENIDS}]}})
    if bad and not payload.get("confirm"):
        msgs = [_("Line %(line)d: “%(value)s” is not an OpenID.") % b for b in bad[:100]]
        if len(bad) > 100:
            msgs.append(_("… and %(n)d more bad lines.") % {"n": len(bad) - 100})
        msgs.append(_("Fix the list, or confirm to send to the %(n)d valid OpenIDs only.")
                    % {"n": len(good)})
        raise Invalid({"audience": {"openids": msgs, "bad_lines": bad}})
    if not good:
        raise Invalid({"audience": {"openids": [_("The list has no valid OpenID.")]}})
    warnings = [_("%(n)d bad lines were left out.") % {"n": len(bad)}] if bad else []
    return Checked({"type": "openids", "openids": good}, warnings)


def message_for(team, account: OfficialAccount, kind: str, payload: Any) -> Checked:
    if kind == SendJob.Kind.TEMPLATE:
        return template_message(team, account, payload)
    if kind == SendJob.Kind.CUSTOM:
        return custom_message(team, account, payload)
    raise Invalid({"kind": [_("Choose template or customer-service.")]})
