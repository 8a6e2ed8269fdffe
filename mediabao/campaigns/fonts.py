"""Fonts for posters: a CJK font and, when installed, a colour emoji font.

Nicknames are mostly Chinese and often carry emoji; a font without CJK glyphs draws
boxes ("tofu"), so poster generation refuses to run without one instead of producing
unreadable posters. Fonts are found through fontconfig (``fc-list``), which knows every
font the system has, with the face index inside ``.ttc`` collections (Noto Sans CJK's SC
face is not the first one). ``MEDIABAO_POSTER_FONT`` (setting or environment variable,
a path) overrides the choice. Lookups run once per process and are cached.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext, gettext_noop
from PIL import Image, ImageFont

logger = logging.getLogger(__name__)

# CBDT/CBLC bitmap fonts (Debian's Noto Color Emoji) only load at their strike size.
EMOJI_BITMAP_SIZE = 109
_FC_TIMEOUT = 10
# Probe characters: common Chinese ones a usable font must have.
_CJK_PROBE = "中文字"
_EMOJI_PROBE = "\U0001f600"
# A private-use code point no font maps: renders the font's .notdef glyph ("tofu").
_NOTDEF_PROBE = "\U0010fffd"
_PROBE_SIZE = 24

# Used when fontconfig is not there (minimal containers): Debian's paths.
_KNOWN_CJK = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)
_KNOWN_EMOJI = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",)


# gettext_noop: extracted by makemessages, translated when raised (settings may not be
# configured at import time, e.g. in the benchmark).
FONT_MISSING_MESSAGE = gettext_noop(
    "No Chinese (CJK) font is installed, so posters cannot be generated. "
    "Install one (Debian: apt-get install fonts-noto-cjk) or set MEDIABAO_POSTER_FONT "
    "to the path of a font file."
)


class PosterFontMissing(RuntimeError):
    """No usable CJK font: posters would show boxes instead of Chinese nicknames."""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        message = gettext(FONT_MISSING_MESSAGE) if settings.configured else FONT_MISSING_MESSAGE
        super().__init__(f"{message} ({detail})" if detail else message)


@dataclass(frozen=True)
class FontFace:
    """One face of a font file; ``index`` selects the face inside a .ttc collection."""

    path: str
    index: int = 0
    family: str = ""


def _override() -> str:
    value = getattr(settings, "MEDIABAO_POSTER_FONT", "") if settings.configured else ""
    return (value or os.environ.get("MEDIABAO_POSTER_FONT", "")).strip()


def _fc_list(pattern: str) -> list[FontFace]:
    """Faces matching a fontconfig pattern; empty when fontconfig is not installed."""
    try:
        out = subprocess.run(
            ["fc-list", pattern, "--format", "%{file}\t%{index}\t%{family[0]}\t%{style[0]}\n"],
            capture_output=True, text=True, timeout=_FC_TIMEOUT, check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    faces = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) != 4 or not parts[0]:
            continue
        path, index, family, style = parts
        faces.append(FontFace(path, int(index) if index.isdigit() else 0, f"{family} {style}".strip()))
    return faces


def _fc_match(pattern: str) -> FontFace | None:
    try:
        out = subprocess.run(
            ["fc-match", "--format", "%{file}\t%{index}\t%{family[0]}", pattern],
            capture_output=True, text=True, timeout=_FC_TIMEOUT, check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.split("\t")
    if len(parts) != 3 or not parts[0]:
        return None
    return FontFace(parts[0], int(parts[1]) if parts[1].isdigit() else 0, parts[2])


def _rank(face: FontFace, default: FontFace | None) -> tuple[int, str, int]:
    """Lower is better: Noto Sans CJK SC, other Noto Sans CJK / Source Han Sans, WenQuanYi,
    fontconfig's own choice for Chinese sans-serif, then anything else; regular before bold,
    proportional before mono, sans before serif."""
    name = face.family.lower()
    if "noto sans cjk sc" in name or "source han sans sc" in name:
        rank = 0
    elif "noto sans cjk" in name or "source han sans" in name:
        rank = 1
    elif "wenquanyi" in name or "wqy" in face.path.lower():
        rank = 2
    elif default is not None and (face.path, face.index) == (default.path, default.index):
        rank = 3
    else:
        rank = 4
    penalty = sum(word in name for word in ("bold", "mono", "serif", "black", "heavy"))
    return (rank * 10 + penalty, face.path, face.index)


@functools.lru_cache(maxsize=16)
def _probe(face: FontFace) -> tuple[ImageFont.FreeTypeFont, tuple[tuple[int, int], bytes]] | None:
    """A small unshaped instance of the face and the bitmap of its .notdef glyph."""
    try:
        font = ImageFont.truetype(face.path, _PROBE_SIZE, index=face.index,
                                  layout_engine=ImageFont.Layout.BASIC)
    except (OSError, ValueError):
        return None
    return font, _mask_signature(font, _NOTDEF_PROBE)


def _mask_signature(font: ImageFont.FreeTypeFont, text: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(text)
    if mask.size[0] == 0 or mask.size[1] == 0:
        return mask.size, b""
    return mask.size, Image.Image()._new(mask).tobytes()


_glyph_lock = threading.Lock()


@functools.lru_cache(maxsize=65536)
def _covers(face: FontFace, text: str) -> bool:
    """Whether every character of ``text`` has a real glyph: FreeType exposes no cmap through
    Pillow, so a character is missing when it renders exactly like .notdef."""
    probe = _probe(face)
    if probe is None:
        return False
    font, notdef = probe
    with _glyph_lock:
        return all(_mask_signature(font, char) != notdef for char in text)


def _resolve_override(path: str) -> FontFace:
    if not Path(path).is_file():
        raise PosterFontMissing(f"MEDIABAO_POSTER_FONT={path}: no such file")
    # Prefer the Simplified Chinese face of a collection when fontconfig knows the file.
    faces = [face for face in _fc_list(":lang=zh-cn") if face.path == path]
    faces.sort(key=lambda face: _rank(face, None))
    face = faces[0] if faces else FontFace(path, 0, Path(path).stem)
    if not _covers(face, _CJK_PROBE):
        raise PosterFontMissing(f"MEDIABAO_POSTER_FONT={path}: not a font with Chinese glyphs")
    return face


@functools.lru_cache(maxsize=8)
def _find_cjk(override: str) -> FontFace:
    if override:
        return _resolve_override(override)
    candidates = _fc_list(":lang=zh-cn")
    default = _fc_match("sans-serif:lang=zh-cn")
    if not candidates:
        candidates = [FontFace(path, index) for path, index in _KNOWN_CJK if Path(path).is_file()]
    for face in sorted(candidates, key=lambda face: _rank(face, default)):
        if Path(face.path).is_file() and _covers(face, _CJK_PROBE):
            logger.info("poster font: %s (face %s, %s)", face.path, face.index, face.family)
            return face
    raise PosterFontMissing("fontconfig lists no font with Chinese glyphs")


def find_cjk_font() -> FontFace:
    """The CJK font for nicknames; raises PosterFontMissing when none is usable."""
    return _find_cjk(_override())


@functools.lru_cache(maxsize=1)
def _find_emoji() -> FontFace | None:
    candidates = _fc_list(":lang=und-zsye") + _fc_list("Noto Color Emoji")
    candidates += [FontFace(path) for path in _KNOWN_EMOJI if Path(path).is_file()]
    candidates.sort(key=lambda face: ("color" not in face.family.lower(), face.path))
    for face in candidates:
        if Path(face.path).is_file() and _load_emoji(face) is not None:
            logger.info("poster emoji font: %s", face.path)
            return face
    return None


def find_emoji_font() -> FontFace | None:
    """A colour emoji font (Debian: fonts-noto-color-emoji), or None: emoji are then left out."""
    return _find_emoji()


def _load_emoji(face: FontFace) -> ImageFont.FreeTypeFont | None:
    """Bitmap emoji fonts load only at their strike size; scalable ones at any size."""
    try:
        font = ImageFont.truetype(face.path, EMOJI_BITMAP_SIZE, index=face.index)
    except OSError:
        return None
    mask = font.getmask(_EMOJI_PROBE, mode="RGBA")
    return font if mask.size[1] > 0 else None


@functools.lru_cache(maxsize=32)
def _sized(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(face.path, size, index=face.index)


def cjk_font(size: int) -> ImageFont.FreeTypeFont:
    """The CJK font at ``size`` px, laid out with Raqm (HarfBuzz) when Pillow has it."""
    return _sized(find_cjk_font(), size)


@functools.lru_cache(maxsize=1)
def emoji_font() -> ImageFont.FreeTypeFont | None:
    """The emoji font at its native size (render, then scale), or None when not installed."""
    face = find_emoji_font()
    return _load_emoji(face) if face else None


def cjk_has_glyph(char: str) -> bool:
    """Whether the CJK font draws ``char`` as a real glyph rather than .notdef (tofu)."""
    return _covers(find_cjk_font(), char)


@functools.lru_cache(maxsize=16384)
def emoji_has_glyph(char: str) -> bool:
    """Whether the emoji font has ``char``; a missing one renders as an empty bitmap."""
    font = emoji_font()
    if font is None:
        return False
    with _glyph_lock:
        return font.getmask(char, mode="RGBA").size[1] > 0


def clear_caches() -> None:
    """Forget every lookup (tests, or after installing a font without restarting)."""
    for cached in (_find_cjk, _find_emoji, _probe, _covers, _sized, emoji_font, emoji_has_glyph):
        cached.cache_clear()


def check_poster_font() -> dict:
    """Advisory health check: which fonts posters use, or how to install the missing one."""
    try:
        face = find_cjk_font()
    except PosterFontMissing:
        return {"status": "down", "error": "no CJK font: apt-get install fonts-noto-cjk"}
    emoji = find_emoji_font()
    return {
        "status": "ok",
        "font": face.path,
        "face": face.index,
        "emoji_font": emoji.path if emoji else None,
    }
