"""Template-message rules: legacy templates and the 2023 category-template checks.

Since 2023-05-04 WeChat no longer shows ``first``/``remark`` of legacy templates and
cuts each displayed value at 20 characters with an ellipsis (no error). Category
templates (类目模板) validate each value by its key type and fail with 47003.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import WxError

KEY_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\.DATA\s*\}\}")
TYPE_RE = re.compile(r"^([a-z_]+?)\d+$")
CATEGORY_TYPES = (
    "thing", "number", "letter", "symbol", "character_string", "time", "date", "amount",
    "phone_number", "car_number", "name", "phrase", "const",
)
LEGACY_CUT = 20
HIDDEN_LEGACY_KEYS = ("first", "remark")

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


def key_type(key: str) -> str | None:
    m = TYPE_RE.match(key)
    if m and m.group(1) in CATEGORY_TYPES:
        return m.group(1)
    return None


def keys_of(content: str) -> list[str]:
    return KEY_RE.findall(content)


def is_category_content(content: str) -> bool:
    keys = keys_of(content)
    return bool(keys) and all(key_type(k) for k in keys)


def _valid_time(value: str) -> bool:
    if not value or len(value) > 64 or not _TIME_CHARS.match(value):
        return False
    if not any(c.isdigit() for c in value):
        return False
    return all(int(hh) <= 23 and int(mm) <= 59 for hh, mm in _HOUR_MIN.findall(value))


def valid_value(ktype: str, value: str) -> bool:
    """Per-type value rules of category templates (WECHAT.md §3)."""
    if ktype in ("thing", "const"):
        return 0 < len(value) <= 20
    if ktype in ("time", "date"):
        return _valid_time(value)
    if ktype == "name":
        if re.fullmatch(rf"[{_CJK}·]{{1,10}}", value):
            return True
        return bool(re.fullmatch(r"[A-Za-z][A-Za-z .]{0,19}", value))
    rule = _RULES.get(ktype)
    return bool(rule.match(value)) if rule else True


@dataclass
class Template:
    template_id: str
    title: str
    content: str
    kind: str = "legacy"  # "legacy" or "category"
    primary_industry: str = "IT科技"
    deputy_industry: str = "互联网|电子商务"
    example: str = ""
    keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = keys_of(self.content)
        # Pre-split lines into [literal, key, literal, key, ..., literal] for fast rendering.
        self._lines = [KEY_RE.split(line) for line in self.content.splitlines()]

    def as_api(self) -> dict:
        return {
            "template_id": self.template_id,
            "title": self.title,
            "primary_industry": self.primary_industry,
            "deputy_industry": self.deputy_industry,
            "content": self.content,
            "example": self.example,
        }

    def to_dict(self) -> dict:
        return {**self.as_api(), "kind": self.kind}

    def render(self, data: dict) -> tuple[dict, str]:
        """Validate ``data`` and return (values the fan sees, rendered text).

        Raises WxError(47003) for category-template violations.
        """
        shown: dict[str, str] = {}
        for key in self.keys:
            item = data.get(key)
            value = item.get("value") if isinstance(item, dict) else None
            if value is not None and not isinstance(value, str):
                value = str(value)
            if self.kind == "category":
                ktype = key_type(key)
                if value is None or (ktype and not valid_value(ktype, value)):
                    raise WxError(47003, f"argument invalid! data.{key}.value invalid")
                shown[key] = value
            else:
                if key in HIDDEN_LEGACY_KEYS:
                    continue
                value = value or ""
                shown[key] = value if len(value) <= LEGACY_CUT else value[:LEGACY_CUT] + "…"
        out = []
        for parts in self._lines:
            keys = parts[1::2]
            if any(k not in shown for k in keys):
                continue
            text = "".join(p if n % 2 == 0 else shown[p] for n, p in enumerate(parts)).strip()
            if text:
                out.append(text)
        return shown, "\n".join(out)


# A few library templates for api_add_template (template_id_short -> title, content).
LIBRARY: dict[str, tuple[str, str]] = {
    "TM00015": ("订单支付成功", "{{first.DATA}}\n支付金额：{{orderMoneySum.DATA}}\n"
                "商品信息：{{orderProductName.DATA}}\n{{Remark.DATA}}"),
    "OPENTM207498902": ("活动报名成功通知", "{{first.DATA}}\n活动名称：{{keyword1.DATA}}\n"
                        "活动时间：{{keyword2.DATA}}\n{{remark.DATA}}"),
    "OPENTM411665252": ("任务完成通知", "{{first.DATA}}\n任务名称：{{keyword1.DATA}}\n"
                        "完成时间：{{keyword2.DATA}}\n{{remark.DATA}}"),
}

KEYWORD_TYPES: list[tuple[str, str]] = [
    ("手机", "phone_number"), ("电话", "phone_number"), ("金额", "amount"), ("价格", "amount"),
    ("费用", "amount"), ("时间", "time"), ("日期", "date"), ("单号", "character_string"),
    ("编号", "character_string"), ("号码", "character_string"), ("姓名", "name"),
    ("状态", "phrase"), ("数量", "number"), ("人数", "number"), ("车牌", "car_number"),
]


def category_keys_for(names: list[str]) -> list[str]:
    """Map Chinese keyword names to typed keys (thing1, amount2, …) for api_add_template."""
    keys = []
    for i, name in enumerate(names, start=1):
        ktype = next((t for word, t in KEYWORD_TYPES if word in name), "thing")
        keys.append(f"{ktype}{i}")
    return keys
