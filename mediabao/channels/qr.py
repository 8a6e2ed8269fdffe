"""QR images of a channel drawn locally from the code's ``url`` (never ``showqrcode``).

WeChat's own download offers the print sizes below (edge in pixels for 8, 12, 15, 30
and 50 cm); the PNG is exactly that size, with whole-pixel modules centred in a quiet
zone so that printers do not blur module edges.
"""

from __future__ import annotations

import io
import re
from urllib.parse import quote

import segno
from PIL import Image

SIZES = (258, 344, 430, 860, 1280)
DEFAULT_SIZE = 430
QUIET_MODULES = 4  # the quiet zone the QR standard asks for
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def _qr(url: str) -> segno.QRCode:
    return segno.make(url, error="m", micro=False)


def png(url: str, size: int = DEFAULT_SIZE) -> bytes:
    """A ``size``×``size`` PNG: integer module scale, centred, white quiet zone ≥ 4 modules."""
    qr = _qr(url)
    modules = qr.symbol_size(scale=1, border=0)[0]
    scale = max(1, size // (modules + 2 * QUIET_MODULES))
    raw = io.BytesIO()
    qr.save(raw, kind="png", scale=scale, border=0)
    raw.seek(0)
    code = Image.open(raw).convert("L")
    canvas = Image.new("L", (size, size), 255)
    offset = (size - code.width) // 2
    canvas.paste(code, (offset, offset))
    out = io.BytesIO()
    canvas.save(out, "PNG", optimize=True)
    return out.getvalue()


def svg(url: str, title: str = "") -> bytes:
    """A scalable SVG (the printer's choice for large formats)."""
    out = io.BytesIO()
    _qr(url).save(out, kind="svg", scale=10, border=QUIET_MODULES, title=title or None,
                  xmldecl=True, svgns=True, nl=True)
    return out.getvalue()


def filename(name: str, ext: str, size: int | None = None) -> str:
    """The channel's name as a file name (Chinese kept; path and control characters dropped)."""
    base = _UNSAFE.sub("_", name).strip(" ._") or "qrcode"
    return f"{base[:80]}-{size}px.{ext}" if size else f"{base[:80]}.{ext}"


def disposition(name: str, ext: str, size: int | None = None) -> str:
    """``attachment; filename="…"; filename*=UTF-8''…`` so every browser keeps the Chinese name
    (RFC 6266); old clients get the ASCII part of the name, or ``qrcode``."""
    ascii_base = re.sub(r"[^A-Za-z0-9 ._-]+", "", name).strip(" ._-") or "qrcode"
    fallback = filename(ascii_base, ext, size)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename(name, ext, size))}"
