"""Template-message rules since 2023-05-04 (WECHAT.md §3), mirrored from WeChat's behaviour.

Legacy templates: ``first``/``remark``, colors and emoji are not shown, every other
line is cut at 20 characters (no error). Category templates (类目模板, keys such as
``thing1``/``amount2``) check each value by its type and reject with 47003. The
composer uses :func:`check` to show the operator, before sending, what the fan will
see and what WeChat would cut or reject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

KEY_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.DATA\s*\}\}")
TYPE_RE = re.compile(r"^([a-z_]+?)\d+$")
CATEGORY_TYPES = ("thing", "number", "letter", "symbol", "character_string", "time", "date",
                  "amount", "phone_number", "car_number", "name", "phrase", "const")
LEGACY_CUT = 20
HIDDEN_KEYS = ("first", "remark")
MAX_VALUE = 200  # anything longer is certainly a mistake

_CJK = "\u4e00-\u9fff\u3400-\u4dbf"
_RULES: dict[str, re.Pattern[str]] = {
    "number": re.compile(r"^-?\d{1,32}(\.\d{1,10})?$"),
    "letter": re.compile(r"^[A-Za-z]{1,32}$"),
    "symbol": re.compile(r"^[^\w\s]{1,5}$"),
    "character_string": re.compile(r"^[\x21-\x7e]{1,32}$"),
    "amount": re.compile(r"^[¥￥$€£]?\d{1,10}(\.\d{1,2})?元?$"),
    "phone_number": re.compile(r"^[\d+\-() ]{1,17}$"),
    "car_number": re.compile(rf"^[{_CJK}A-Z0-9]{{1,8}}$"),
    "phrase": re.compile(rf"^[{_CJK}]{{1,5}}$"),
}
_TIME_CHARS = re.compile(r"^[0-9年月日号时分秒:：/\-. ~至星期周一二三四五六日天]+$")
_HOUR_MIN = re.compile(r"(\d{1,2})[:：](\d{2})")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def _type_hint(ktype: str) -> str:
    return {
        "thing": _("at most 20 characters"), "const": _("at most 20 characters"),
        "number": _("digits only (decimals allowed), at most 32"),
        "letter": _("letters only, at most 32"), "symbol": _("symbols only, at most 5"),
        "character_string": _("digits, letters or symbols, no Chinese, at most 32"),
        "time": _("a 24-hour time or date, ranges joined with ~"),
        "date": _("a 24-hour time or date, ranges joined with ~"),
        "amount": _("a currency symbol and at most 10 digits, optionally ending in 元"),
        "phone_number": _("a phone number, at most 17 characters"),
        "car_number": _("a licence plate, at most 8 characters"),
        "name": _("at most 10 Chinese characters or 20 letters"),
        "phrase": _("at most 5 Chinese characters only"),
    }.get(ktype, "")


def keys_of(content: str) -> list[str]:
    seen: list[str] = []
    for key in KEY_RE.findall(content):
        if key not in seen:
            seen.append(key)
    return seen


def key_type(key: str) -> str | None:
    m = TYPE_RE.match(key)
    return m.group(1) if m and m.group(1) in CATEGORY_TYPES else None


def kind_of(content: str) -> str:
    keys = keys_of(content)
    return "category" if keys and all(key_type(k) for k in keys) else "legacy"


def _valid_time(value: str) -> bool:
    if not value or len(value) > 64 or not _TIME_CHARS.match(value):
        return False
    if not any(c.isdigit() for c in value):
        return False
    return all(int(hh) <= 23 and int(mm) <= 59 for hh, mm in _HOUR_MIN.findall(value))


def valid_value(ktype: str, value: str) -> bool:
    if ktype in ("thing", "const"):
        return 0 < len(value) <= 20
    if ktype in ("time", "date"):
        return _valid_time(value)
    if ktype == "name":
        return bool(re.fullmatch(rf"[{_CJK}·]{{1,10}}", value)
                    or re.fullmatch(r"[A-Za-z][A-Za-z .]{0,19}", value))
    rule = _RULES.get(ktype)
    return bool(rule.match(value)) if rule else True


def label_of(content: str, key: str) -> str:
    """The text before ``{{key.DATA}}`` on its line (``订单号：`` → ``订单号``), for forms."""
    for line in content.splitlines():
        m = re.search(r"\{\{\s*" + re.escape(key) + r"\.DATA\s*\}\}", line)
        if m:
            label = KEY_RE.sub("", line[:m.start()]).strip().rstrip(":：").strip()
            return label or key
    return key


@dataclass
class Check:
    """The outcome of checking a template message: errors block sending, warnings inform."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what the fan sees, line by line
    shown: dict[str, str] = field(default_factory=dict)

    def error(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    @property
    def ok(self) -> bool:
        return not self.errors


def check(content: str, kind: str, data: object) -> Check:
    """Validate ``data`` ({key: {"value", "color"?}} or {key: "value"}) against a template."""
    result = Check()
    keys = keys_of(content)
    if not isinstance(data, dict):
        result.error("data", _("Must be an object of template fields."))
        return result
    for extra in sorted(set(data) - set(keys)):
        result.error(str(extra), _("This template has no field “%(key)s”.") % {"key": extra})
    values: dict[str, str] = {}
    colored = False
    for key in keys:
        item = data.get(key)
        if isinstance(item, dict):
            value, color = item.get("value"), item.get("color")
        else:
            value, color = item, None
        if value is None or (isinstance(value, str) and not value.strip()):
            if kind == "legacy" and key in HIDDEN_KEYS:
                continue  # not shown anyway: optional
            result.error(key, _("This field is required."))
            continue
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            result.error(key, _("Must be text."))
            continue
        value = str(value)
        if len(value) > MAX_VALUE:
            result.error(key, _("At most %(n)d characters.") % {"n": MAX_VALUE})
            continue
        if color not in (None, ""):
            if not isinstance(color, str) or not _COLOR.match(color):
                result.error(key, _("A color is written #RRGGBB."))
            colored = True
        values[key] = value

    if colored:
        result.warnings.append(_("Colors are no longer shown by WeChat (since 2023-05-04)."))
    for key, value in values.items():
        if _EMOJI.search(value):
            result.warnings.append(_("“%(key)s”: emoji are not shown by WeChat.") % {"key": key})
        if kind == "category":
            ktype = key_type(key)
            if ktype and not valid_value(ktype, value):
                result.error(key, _("WeChat rejects this value (47003): %(hint)s.")
                             % {"hint": _type_hint(ktype)})
            else:
                result.shown[key] = value
        else:
            if key in HIDDEN_KEYS:
                result.warnings.append(
                    _("“%(key)s” is not shown to fans since 2023-05-04.") % {"key": key})
                continue
            if len(value) > LEGACY_CUT:
                result.warnings.append(
                    _("“%(key)s” is cut to 20 characters: “%(shown)s…”.")
                    % {"key": key, "shown": value[:LEGACY_CUT]})
                value = value[:LEGACY_CUT] + "…"
            result.shown[key] = value
    for line in content.splitlines():
        parts = KEY_RE.split(line)
        line_keys = parts[1::2]
        if any(k not in result.shown for k in line_keys):
            continue
        text = "".join(p if n % 2 == 0 else result.shown[p] for n, p in enumerate(parts)).strip()
        if text:
            result.lines.append(text)
    return result


def wire_data(data: dict) -> dict:
    """The ``data`` object as sent: {key: {"value": str[, "color"]}} (empty fields dropped)."""
    out = {}
    for key, item in data.items():
        if isinstance(item, dict):
            value, color = item.get("value"), item.get("color")
        else:
            value, color = item, None
        if value is None or str(value) == "":
            continue
        entry = {"value": str(value)}
        if color:
            entry["color"] = color
        out[key] = entry
    return out
