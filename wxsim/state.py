"""All simulator state: accounts, fans, tokens, templates, media, QR codes, inboxes.

Kept in plain in-memory structures tuned for the hot paths (token lookup and
template/send are dict lookups). Fans are stored column-wise so that a million
of them fit in a few hundred MiB: openids in a list plus a dict index, flags in a
bytearray, times in an array, and everything rare (remarks, inboxes, windows) in
sparse dicts keyed by the fan's index. Nicknames and avatars are derived from a
seed on demand.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import secrets
import string
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import names
from .clock import Clock
from .crypto import random_encoding_aes_key
from .errors import WxError
from .templates import Template

TOKEN_TTL = 7200
TOKEN_OVERLAP = 300
INBOX_MAX = 200
SCENES = [
    "ADD_SCENE_SEARCH", "ADD_SCENE_ACCOUNT_MIGRATION", "ADD_SCENE_PROFILE_CARD",
    "ADD_SCENE_QR_CODE", "ADD_SCENE_PROFILE_LINK", "ADD_SCENE_PROFILE_ITEM", "ADD_SCENE_PAID",
    "ADD_SCENE_WECHAT_ADVERTISEMENT", "ADD_SCENE_REPRINT", "ADD_SCENE_LIVESTREAM",
    "ADD_SCENE_CHANNELS", "ADD_SCENE_OTHERS",
]
SCENE_QR = SCENES.index("ADD_SCENE_QR_CODE")

# Daily API limits of a new account (WECHAT.md §3); 0 means unlimited.
DEFAULT_LIMITS: dict[str, int] = {
    "token": 2000,
    "stable_token": 500000,
    "message/template/send": 100000,
    "message/custom/send": 500000,
    "user/get": 500,
    "user/info": 5000000,
    "user/info/batchget": 5000000,
    "qrcode/create": 100000,
    "media/upload": 100000,
    "material/add_material": 100000,
}

_ALNUM = string.ascii_letters + string.digits
_TOKEN_CHARS = set(_ALNUM + "-_")


def rand_str(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def new_token() -> str:
    """A token shaped like WeChat's (``NN_`` + ~130 url-safe characters)."""
    return f"{secrets.randbelow(20) + 80}_" + secrets.token_urlsafe(96)


def well_formed_token(tok: str) -> bool:
    return 16 <= len(tok) <= 512 and set(tok) <= _TOKEN_CHARS


class TokenInfo:
    """A credential: who it belongs to and until when it works."""

    __slots__ = ("owner", "expires_at", "kind", "superseded", "extra")

    def __init__(self, owner: str, expires_at: float, kind: str, extra: Any = None) -> None:
        self.owner = owner
        self.expires_at = expires_at
        self.kind = kind
        self.superseded = False
        self.extra = extra


class FanStore:
    """Column-wise fan storage; a fan is identified by its index in ``openids``."""

    def __init__(self, appid: str, seed: str) -> None:
        self.appid = appid
        self.seed = seed
        self.prefix = "o" + base64.urlsafe_b64encode(
            hashlib.blake2b(appid.encode(), digest_size=6).digest()
        ).decode()[:5]
        self.openids: list[str] = []
        self.index: dict[str, int] = {}
        self.subscribed = bytearray()
        self.sub_time = array("q")
        self.scene = bytearray()
        self.following = 0
        self.nick: dict[int, str] = {}
        self.remark: dict[int, str] = {}
        self.qr_scene: dict[int, tuple[int, str]] = {}
        self.blocked: set[int] = set()
        self.windows: dict[int, dict[str, list]] = {}
        self.inbox: dict[int, deque] = {}

    def __len__(self) -> int:
        return len(self.openids)

    def _make_openid(self, i: int) -> str:
        digest = hashlib.blake2b(f"{self.appid}:{i}:{self.seed}".encode(), digest_size=16)
        return self.prefix + base64.urlsafe_b64encode(digest.digest()).decode()[:22]

    def add(self, following: bool, sub_time: int, scene: int = 0, openid: str | None = None) -> int:
        i = len(self.openids)
        oid = openid or self._make_openid(i)
        if oid in self.index:
            raise ValueError(f"openid {oid} exists")
        self.openids.append(oid)
        self.index[oid] = i
        self.subscribed.append(1 if following else 0)
        self.sub_time.append(sub_time if following else 0)
        self.scene.append(scene)
        if following:
            self.following += 1
        return i

    def add_many(self, n: int, following: bool, t0: int, t1: int, rng_seed: int) -> range:
        """Append ``n`` fans with subscribe times spread over [t0, t1]."""
        start = len(self.openids)
        openids, index, make = self.openids, self.index, self._make_openid
        span = max(0, t1 - t0)
        # A cheap LCG spreads subscribe times and scenes without a Random per fan.
        x = rng_seed & 0xFFFFFFFF
        times = array("q")
        scenes = bytearray()
        for i in range(start, start + n):
            oid = make(i)
            openids.append(oid)
            index[oid] = i
            x = (1103515245 * x + 12345) & 0x7FFFFFFF
            times.append(t0 + (x % (span + 1)) if following else 0)
            scenes.append((x >> 8) % len(SCENES))
        self.sub_time.extend(times)
        self.scene.extend(scenes)
        self.subscribed.extend(b"\x01" * n if following else b"\x00" * n)
        if following:
            self.following += n
        return range(start, start + n)

    def idx(self, openid: str) -> int | None:
        return self.index.get(openid)

    def nickname(self, i: int) -> str:
        return self.nick.get(i) or names.nickname(self.seed, i)

    def set_following(self, i: int, following: bool, now: int, scene: int | None = None) -> bool:
        """Returns True if the state changed."""
        cur = self.subscribed[i] == 1
        if cur == following:
            return False
        self.subscribed[i] = 1 if following else 0
        if following:
            self.following += 1
            self.sub_time[i] = now
            if scene is not None:
                self.scene[i] = scene
        else:
            self.following -= 1
        return True

    def page(self, next_openid: str | None, limit: int = 10000) -> list[str]:
        """Following openids after ``next_openid`` (index slicing, no full scan)."""
        start = 0
        if next_openid:
            i = self.index.get(next_openid)
            if i is None:
                raise WxError(40003)
            start = i + 1
        out: list[str] = []
        n = len(self.openids)
        while len(out) < limit and start < n:
            end = min(n, start + limit - len(out) + 1024)
            chunk = list(itertools.compress(self.openids[start:end], self.subscribed[start:end]))
            need = limit - len(out)
            out.extend(chunk[:need])
            start = end
        return out

    def unionid(self, i: int) -> str:
        h = hashlib.blake2b(f"union:{self.seed}:{i}".encode(), digest_size=16).digest()
        return "o" + base64.urlsafe_b64encode(h).decode()[:27]

    def deliver(self, i: int, entry: dict) -> None:
        box = self.inbox.get(i)
        if box is None:
            box = self.inbox[i] = deque(maxlen=INBOX_MAX)
        box.append(entry)

    # Customer-service interaction windows (WECHAT.md §5).
    def open_window(self, i: int, kind: str, expires_at: float, count: int) -> None:
        self.windows.setdefault(i, {})[kind] = [expires_at, count]

    def use_window(self, i: int, now: float) -> None:
        """Consume one send from the window expiring first; 45015/45047 otherwise."""
        wins = self.windows.get(i)
        live = [w for w in (wins or {}).values() if w[0] > now]
        if not live:
            raise WxError(45015)
        usable = [w for w in live if w[1] > 0]
        if not usable:
            raise WxError(45047)
        w = min(usable, key=lambda w: w[0])
        w[1] -= 1

    def to_dict(self) -> dict:
        return {
            "seed": self.seed,
            "openids": self.openids,
            "subscribed": base64.b64encode(bytes(self.subscribed)).decode(),
            "sub_time": self.sub_time.tolist(),
            "scene": base64.b64encode(bytes(self.scene)).decode(),
            "nick": self.nick,
            "remark": self.remark,
            "qr_scene": self.qr_scene,
            "blocked": sorted(self.blocked),
            "windows": self.windows,
            "inbox": {k: list(v) for k, v in self.inbox.items()},
        }

    @classmethod
    def from_dict(cls, appid: str, d: dict) -> FanStore:
        fs = cls(appid, d["seed"])
        fs.openids = list(d["openids"])
        fs.index = {o: i for i, o in enumerate(fs.openids)}
        fs.subscribed = bytearray(base64.b64decode(d["subscribed"]))
        fs.sub_time = array("q", d["sub_time"])
        fs.scene = bytearray(base64.b64decode(d["scene"]))
        fs.following = sum(fs.subscribed)
        fs.nick = {int(k): v for k, v in d.get("nick", {}).items()}
        fs.remark = {int(k): v for k, v in d.get("remark", {}).items()}
        fs.qr_scene = {int(k): tuple(v) for k, v in d.get("qr_scene", {}).items()}  # type: ignore[misc]
        fs.blocked = set(d.get("blocked", []))
        fs.windows = {int(k): v for k, v in d.get("windows", {}).items()}
        fs.inbox = {int(k): deque(v, maxlen=INBOX_MAX) for k, v in d.get("inbox", {}).items()}
        return fs


@dataclass
class Media:
    media_id: str
    type: str
    created_at: int
    data: bytes
    content_type: str
    filename: str
    permanent: bool = False
    url: str = ""


@dataclass
class QRCode:
    ticket: str
    code: str
    action_name: str
    scene_id: int | None
    scene_str: str | None
    created_at: int
    expire_at: int | None  # None for permanent codes

    @property
    def url(self) -> str:
        return f"http://weixin.qq.com/q/{self.code}"

    @property
    def scene(self) -> str:
        return self.scene_str if self.scene_str is not None else str(self.scene_id)

    def to_dict(self) -> dict:
        return {
            "ticket": self.ticket, "code": self.code, "action_name": self.action_name,
            "scene_id": self.scene_id, "scene_str": self.scene_str,
            "created_at": self.created_at, "expire_at": self.expire_at, "url": self.url,
        }


@dataclass
class Account:
    appid: str
    secret: str
    token: str
    encoding_aes_key: str
    server_url: str = ""
    type: str = "service"  # "service" or "subscription"
    verified: bool = True
    encrypt_mode: str = "plain"  # plain, compat, safe
    name: str = ""
    original_id: str = ""
    pushes_enabled: bool = True
    template_finish_push: bool = True
    record_inbox: bool = True
    qr_permanent_cap: int = 100000
    fans: FanStore = field(init=False)
    templates: dict[str, Template] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    qrcodes: dict[str, QRCode] = field(default_factory=dict)
    permanent_by_scene: dict[str, str] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    stable_tokens: list[str] = field(default_factory=list)
    stable_force_times: list[float] = field(default_factory=list)
    authorizer_tokens: list[str] = field(default_factory=list)
    quota_day: int = 0
    quota_used: dict[str, int] = field(default_factory=dict)
    limits: dict[str, int] = field(default_factory=dict)
    client_msg_ids: dict[tuple[int, str], tuple[float, int]] = field(default_factory=dict)
    components: set[str] = field(default_factory=set)
    last_qr_ticket: str = ""
    industry: tuple[str, str] = ("1", "2")

    def __post_init__(self) -> None:
        self.fans = FanStore(self.appid, self.appid)
        if not self.original_id:
            self.original_id = "gh_" + hashlib.blake2b(self.appid.encode(), digest_size=6).hexdigest()
        if not self.name:
            self.name = f"模拟公众号{self.appid[-4:]}"

    def public(self) -> dict:
        return {
            "appid": self.appid, "secret": self.secret, "token": self.token,
            "encoding_aes_key": self.encoding_aes_key, "server_url": self.server_url,
            "type": self.type, "verified": self.verified, "encrypt_mode": self.encrypt_mode,
            "name": self.name, "original_id": self.original_id,
            "pushes_enabled": self.pushes_enabled,
            "template_finish_push": self.template_finish_push,
            "record_inbox": self.record_inbox,
            "qr_permanent_cap": self.qr_permanent_cap,
            "fans": len(self.fans), "following": self.fans.following,
            "templates": len(self.templates), "components": sorted(self.components),
        }


@dataclass
class OAuthCode:
    code: str
    appid: str
    fan: int
    scope: str
    created_at: float
    component_appid: str = ""
    used: bool = False


@dataclass
class Authorization:
    authorizer_appid: str
    refresh_token: str
    func_ids: list[int]
    authorized_at: int


@dataclass
class Component:
    appid: str
    secret: str
    token: str
    encoding_aes_key: str
    ticket_url: str = ""
    msg_url: str = ""  # may contain $APPID$
    name: str = ""
    tickets: list[tuple[str, float]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    preauth: dict[str, tuple[float, bool]] = field(default_factory=dict)
    auth_codes: dict[str, tuple[str, float, bool]] = field(default_factory=dict)
    authorizations: dict[str, Authorization] = field(default_factory=dict)

    def public(self) -> dict:
        return {
            "component_appid": self.appid, "component_appsecret": self.secret,
            "token": self.token, "encoding_aes_key": self.encoding_aes_key,
            "ticket_url": self.ticket_url, "msg_url": self.msg_url, "name": self.name,
            "last_ticket": self.tickets[-1][0] if self.tickets else None,
            "authorizers": sorted(self.authorizations),
        }


class State:
    """Everything the simulator knows. One instance per running simulator."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.accounts: dict[str, Account] = {}
        self.components: dict[str, Component] = {}
        self.tokens: dict[str, TokenInfo] = {}
        self.tickets: dict[str, tuple[str, str]] = {}  # ticket -> (appid, ticket)
        self.qr_codes: dict[str, tuple[str, str]] = {}  # url code -> (appid, ticket)
        self.oauth_codes: dict[str, OAuthCode] = {}
        self.sns_refresh: dict[str, TokenInfo] = {}
        self.media_index: dict[str, str] = {}  # media_id -> appid
        self.counters: dict[str, dict[int, int]] = {}
        self.call_log: deque = deque(maxlen=5000)
        self.push_log: deque = deque(maxlen=5000)
        self._msgid = itertools.count(3_600_000_000_000_000_000 + secrets.randbelow(10**15))
        self._seq = itertools.count(1)

    # ids
    def next_msgid(self) -> int:
        return next(self._msgid)

    def next_seq(self) -> int:
        return next(self._seq)

    # accounts
    def create_account(self, **kw: Any) -> Account:
        appid = kw.pop("appid", None) or "wx" + secrets.token_hex(8)
        if appid in self.accounts:
            raise ValueError(f"account {appid} exists")
        kw.setdefault("secret", secrets.token_hex(16))
        kw.setdefault("token", rand_str(32))
        kw.setdefault("encoding_aes_key", random_encoding_aes_key())
        fields_ = set(Account.__dataclass_fields__)
        unknown = set(kw) - fields_
        if unknown:
            raise ValueError(f"unknown account fields: {sorted(unknown)}")
        acct = Account(appid=appid, **kw)
        self.accounts[appid] = acct
        return acct

    def account(self, appid: str) -> Account:
        acct = self.accounts.get(appid)
        if acct is None:
            raise KeyError(appid)
        return acct

    # tokens
    def issue_token(self, owner: str, kind: str, chain: list[str], ttl: int = TOKEN_TTL,
                    overlap: int = TOKEN_OVERLAP, extra: Any = None) -> str:
        """Issue a new token; the previous one of ``chain`` stays valid ``overlap`` s."""
        now = self.clock.now()
        tok = new_token()
        self.tokens[tok] = TokenInfo(owner, now + ttl, kind, extra)
        while len(chain) >= 2:
            self.tokens.pop(chain.pop(0), None)
        if chain:
            old = self.tokens.get(chain[-1])
            if old is not None:
                old.superseded = True
                old.expires_at = min(old.expires_at, now + overlap)
        chain.append(tok)
        return tok

    def check_token(self, tok: str | None, kinds: tuple[str, ...] = ("token", "stable",
                                                                       "authorizer")) -> TokenInfo:
        if not tok:
            raise WxError(41001)
        info = self.tokens.get(tok)
        if info is None or info.kind not in kinds:
            raise WxError(40001 if well_formed_token(tok) else 40014)
        if info.expires_at <= self.clock.now():
            raise WxError(40001 if info.superseded else 42001)
        return info

    def expire_tokens(self, owner: str) -> int:
        """Fault: make every token of ``owner`` expire now (42001 on next use)."""
        now = self.clock.now()
        n = 0
        for info in self.tokens.values():
            if info.owner == owner and info.expires_at > now:
                info.expires_at = now
                n += 1
        return n

    # quotas
    def use_quota(self, acct: Account, endpoint: str) -> None:
        day = self.clock.day()
        if acct.quota_day != day:
            acct.quota_day = day
            acct.quota_used.clear()
        used = acct.quota_used.get(endpoint, 0) + 1
        limit = acct.limits.get(endpoint, DEFAULT_LIMITS.get(endpoint, 0))
        if limit and used > limit:
            raise WxError(45009)
        acct.quota_used[endpoint] = used

    # counters and logs
    def count(self, endpoint: str, code: int) -> None:
        c = self.counters.get(endpoint)
        if c is None:
            c = self.counters[endpoint] = {}
        c[code] = c.get(code, 0) + 1

    # persistence
    def to_dict(self) -> dict:
        accts = []
        for a in self.accounts.values():
            d = a.public()
            d.pop("fans"), d.pop("following"), d.pop("templates"), d.pop("components")
            d["templates"] = [t.to_dict() for t in a.templates.values()]
            d["qrcodes"] = [q.to_dict() for q in a.qrcodes.values()]
            d["fan_store"] = a.fans.to_dict()
            d["components"] = sorted(a.components)
            accts.append(d)
        comps = []
        for c in self.components.values():
            comps.append({
                "appid": c.appid, "secret": c.secret, "token": c.token,
                "encoding_aes_key": c.encoding_aes_key, "ticket_url": c.ticket_url,
                "msg_url": c.msg_url, "name": c.name,
                "authorizations": [vars(x) for x in c.authorizations.values()],
            })
        return {"version": 1, "clock_offset": self.clock.offset, "accounts": accts,
                "components": comps}

    def load_dict(self, d: dict) -> None:
        self.clock.offset = float(d.get("clock_offset", 0.0))
        for ad in d.get("accounts", []):
            ad = dict(ad)
            templates = ad.pop("templates", [])
            qrcodes = ad.pop("qrcodes", [])
            fan_store = ad.pop("fan_store", None)
            comps = ad.pop("components", [])
            acct = self.create_account(**ad)
            acct.components = set(comps)
            if fan_store:
                acct.fans = FanStore.from_dict(acct.appid, fan_store)
            for td in templates:
                td = dict(td)
                acct.templates[td["template_id"]] = Template(**td)
            for qd in qrcodes:
                qd = dict(qd)
                qd.pop("url", None)
                q = QRCode(**qd)
                acct.qrcodes[q.ticket] = q
                self.tickets[q.ticket] = (acct.appid, q.ticket)
                self.qr_codes[q.code] = (acct.appid, q.ticket)
                if q.expire_at is None:
                    acct.permanent_by_scene[q.action_name + ":" + q.scene] = q.ticket
        for cd in d.get("components", []):
            cd = dict(cd)
            auths = cd.pop("authorizations", [])
            comp = Component(**cd)
            for au in auths:
                comp.authorizations[au["authorizer_appid"]] = Authorization(**au)
            self.components[comp.appid] = comp

    def save(self, path: str) -> None:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False)
        os.replace(tmp, path)

    def load(self, path: str) -> None:
        with open(path, encoding="utf-8") as f:
            self.load_dict(json.load(f))
