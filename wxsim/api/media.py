"""Temporary media (3-day expiry) and permanent material, with type and size checks."""

from __future__ import annotations

import json

from aiohttp import web

from ..errors import WxError
from ..state import Media, rand_str
from . import Ctx, endpoint, str_field

TEMP_TTL = 3 * 86400
MB = 1024 * 1024
# type -> (max bytes, size errcode, allowed sniffed kinds)
RULES: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "image": (10 * MB, 40009, ("jpeg", "png", "gif", "bmp")),
    "voice": (2 * MB, 40010, ("amr", "mp3")),
    "video": (10 * MB, 40011, ("mp4",)),
    "thumb": (64 * 1024, 40012, ("jpeg",)),
}
CONTENT_TYPES = {
    "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "bmp": "image/bmp",
    "amr": "audio/amr", "mp3": "audio/mpeg", "mp4": "video/mp4",
}


def sniff(data: bytes) -> str | None:
    """Identify a file by its magic bytes (WeChat checks content, not the name)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data.startswith(b"#!AMR"):
        return "amr"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "mp3"
    if len(data) > 12 and data[4:8] == b"ftyp":
        return "mp4"
    return None


async def _read_upload(ctx: Ctx, mtype: str) -> tuple[bytes, str, str]:
    if mtype not in RULES:
        raise WxError(40004)
    ct = ctx.request.content_type
    if not ct.startswith("multipart/"):
        raise WxError(41005)
    reader = await ctx.request.multipart()
    max_size, size_err, kinds = RULES[mtype]
    while True:
        part = await reader.next()
        if part is None:
            raise WxError(41005)
        if getattr(part, "name", None) != "media":
            continue
        data = bytearray()
        while True:
            chunk = await part.read_chunk(256 * 1024)  # type: ignore[union-attr]
            if not chunk:
                break
            data.extend(chunk)
            if len(data) > max_size:
                raise WxError(size_err)
        if not data:
            raise WxError(41005)
        kind = sniff(bytes(data))
        if kind not in kinds:
            raise WxError(40005)
        filename = getattr(part, "filename", None) or f"media.{kind}"
        return bytes(data), CONTENT_TYPES[kind], filename


def _store(ctx: Ctx, mtype: str, data: bytes, ct: str, filename: str, permanent: bool) -> Media:
    now = ctx.sim.clock.now_int()
    media_id = rand_str(64, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
    m = Media(media_id, mtype, now, data, ct, filename, permanent)
    if permanent and mtype == "image":
        m.url = f"{ctx.sim.base_url}/_sim/media/{media_id}"
    ctx.acct.media[media_id] = m
    ctx.sim.state.media_index[media_id] = ctx.acct.appid
    return m


@endpoint("/cgi-bin/media/upload", ("POST",), quota="media/upload")
async def upload(ctx: Ctx) -> dict:
    mtype = ctx.query.get("type", "")
    data, ct, filename = await _read_upload(ctx, mtype)
    m = _store(ctx, mtype, data, ct, filename, permanent=False)
    key = "thumb_media_id" if mtype == "thumb" else "media_id"
    return {"type": mtype, key: m.media_id, "created_at": m.created_at}


@endpoint("/cgi-bin/media/uploadimg", ("POST",), quota="media/upload")
async def uploadimg(ctx: Ctx) -> dict:
    data, ct, filename = await _read_upload(ctx, "image")
    m = _store(ctx, "image", data, ct, filename, permanent=True)
    return {"url": m.url}


@endpoint("/cgi-bin/media/get")
async def media_get(ctx: Ctx) -> web.Response:
    mid = ctx.query.get("media_id", "")
    m = ctx.acct.media.get(mid)
    if m is None or m.permanent or m.created_at + TEMP_TTL <= ctx.sim.clock.now():
        raise WxError(40007)
    return web.Response(
        body=m.data, content_type=m.content_type,
        headers={"Content-Disposition": f'attachment; filename="{m.filename}"'},
    )


@endpoint("/cgi-bin/material/add_material", ("POST",), quota="material/add_material")
async def add_material(ctx: Ctx) -> dict:
    mtype = ctx.query.get("type", "")
    if mtype == "video":
        desc = ctx.query.get("description")
        if desc is not None:
            try:
                json.loads(desc)
            except ValueError as exc:
                raise WxError(47001) from exc
    data, ct, filename = await _read_upload(ctx, mtype)
    m = _store(ctx, mtype, data, ct, filename, permanent=True)
    out = {"media_id": m.media_id}
    if mtype == "image":
        out["url"] = m.url
    return out


@endpoint("/cgi-bin/material/del_material", ("POST",))
async def del_material(ctx: Ctx) -> dict:
    body = await ctx.json()
    mid = str_field(body, "media_id", 40007)
    m = ctx.acct.media.get(mid)
    if m is None or not m.permanent:
        raise WxError(40007)
    del ctx.acct.media[mid]
    return {"errcode": 0, "errmsg": "ok"}


@endpoint("/cgi-bin/material/get_materialcount")
async def materialcount(ctx: Ctx) -> dict:
    counts = {"voice_count": 0, "video_count": 0, "image_count": 0, "news_count": 0}
    for m in ctx.acct.media.values():
        if m.permanent and f"{m.type}_count" in counts:
            counts[f"{m.type}_count"] += 1
    return counts
