"""What a simulated fan can do; each action updates state and pushes the event.

Interaction windows are opened *before* the push, because the platform may
answer a push with customer-service messages while it is still being delivered.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .state import SCENE_QR, SCENES, Account, QRCode

if TYPE_CHECKING:
    from .app import Sim

MSG_WINDOW = (48 * 3600, 5)
EVENT_WINDOW = (60, 3)


class ActionError(ValueError):
    """A fan action that cannot happen (unknown ticket, expired code, …)."""


def resolve_ticket(sim: Sim, acct: Account, ref: str) -> QRCode:
    """Accept a ticket, a ``http://weixin.qq.com/q/<code>`` url or a bare code."""
    ref = ref.strip()
    entry = sim.state.tickets.get(ref)
    if entry is None:
        code = ref.rsplit("/", 1)[-1]
        entry = sim.state.qr_codes.get(code)
    if entry is None:
        raise ActionError("unknown QR ticket/url")
    if entry[0] != acct.appid:
        raise ActionError(f"this QR code belongs to account {entry[0]}")
    q = acct.qrcodes[entry[1]]
    if q.expire_at is not None and q.expire_at <= sim.clock.now():
        raise ActionError("二维码已过期 (QR code expired)")
    return q


def _open(sim: Sim, acct: Account, i: int, kind: str) -> None:
    secs, count = MSG_WINDOW if kind == "msg" else EVENT_WINDOW
    acct.fans.open_window(i, kind, sim.clock.now() + secs, count)


async def send_text(sim: Sim, acct: Account, i: int, content: str) -> dict:
    if not acct.fans.subscribed[i]:
        raise ActionError("a fan who does not follow cannot message the account")
    _open(sim, acct, i, "msg")
    msgid = sim.state.next_msgid()
    fields: list[tuple[str, object]] = [("MsgType", "text"), ("Content", content),
                                        ("MsgId", msgid)]
    return {"msg_id": msgid, **await sim.pusher.push_event(acct, i, fields)}


async def send_image(sim: Sim, acct: Account, i: int, pic_url: str = "") -> dict:
    if not acct.fans.subscribed[i]:
        raise ActionError("a fan who does not follow cannot message the account")
    _open(sim, acct, i, "msg")
    msgid = sim.state.next_msgid()
    media_id = hashlib.blake2b(f"{acct.appid}{msgid}".encode(), digest_size=20).hexdigest()
    url = pic_url or f"{sim.base_url}/mmopen/{acct.appid}/{acct.fans.openids[i]}/0"
    fields: list[tuple[str, object]] = [("MsgType", "image"), ("PicUrl", url),
                                        ("MediaId", media_id), ("MsgId", msgid)]
    return {"msg_id": msgid, **await sim.pusher.push_event(acct, i, fields)}


async def subscribe(sim: Sim, acct: Account, i: int, ticket: str | None = None,
                    scene: str = "ADD_SCENE_SEARCH") -> dict:
    fans = acct.fans
    if fans.subscribed[i]:
        if ticket:
            return await scan(sim, acct, i, ticket)
        raise ActionError("the fan already follows")
    now = sim.clock.now_int()
    fields: list[tuple[str, object]] = [("MsgType", "event"), ("Event", "subscribe")]
    if ticket:
        q = resolve_ticket(sim, acct, ticket)
        fans.set_following(i, True, now, SCENE_QR)
        fans.qr_scene[i] = (q.scene_id or 0, q.scene_str or "")
        fields += [("EventKey", "qrscene_" + q.scene), ("Ticket", q.ticket)]
    else:
        if scene not in SCENES:
            raise ActionError(f"unknown subscribe scene {scene}")
        fans.set_following(i, True, now, SCENES.index(scene))
        fans.qr_scene.pop(i, None)
        fields += [("EventKey", "")]
    _open(sim, acct, i, "event")
    return await sim.pusher.push_event(acct, i, fields)


async def scan(sim: Sim, acct: Account, i: int, ticket: str) -> dict:
    """Scan a parametric code: SCAN if following, else subscribe with qrscene_."""
    if not acct.fans.subscribed[i]:
        return await subscribe(sim, acct, i, ticket)
    q = resolve_ticket(sim, acct, ticket)
    _open(sim, acct, i, "event")
    fields: list[tuple[str, object]] = [("MsgType", "event"), ("Event", "SCAN"),
                                        ("EventKey", q.scene), ("Ticket", q.ticket)]
    return await sim.pusher.push_event(acct, i, fields)


async def unsubscribe(sim: Sim, acct: Account, i: int) -> dict:
    fans = acct.fans
    if not fans.set_following(i, False, sim.clock.now_int()):
        raise ActionError("the fan does not follow")
    fans.windows.pop(i, None)
    fields: list[tuple[str, object]] = [("MsgType", "event"), ("Event", "unsubscribe"),
                                        ("EventKey", "")]
    return await sim.pusher.push_event(acct, i, fields)


async def click(sim: Sim, acct: Account, i: int, key: str) -> dict:
    if not acct.fans.subscribed[i]:
        raise ActionError("menus are shown to followers only")
    _open(sim, acct, i, "event")
    fields: list[tuple[str, object]] = [("MsgType", "event"), ("Event", "CLICK"),
                                        ("EventKey", key)]
    return await sim.pusher.push_event(acct, i, fields)


async def view(sim: Sim, acct: Account, i: int, url: str) -> dict:
    """A VIEW menu click: the push (no window opened), then the page is opened."""
    if not acct.fans.subscribed[i]:
        raise ActionError("menus are shown to followers only")
    fields: list[tuple[str, object]] = [("MsgType", "event"), ("Event", "VIEW"),
                                        ("EventKey", url)]
    return await sim.pusher.push_event(acct, i, fields)
