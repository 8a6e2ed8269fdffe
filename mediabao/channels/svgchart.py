"""A small server-side SVG chart: daily bars above and below zero, and a line.

Why not ECharts: no PyPI package here ships ``echarts.min.js`` for Django's static
files, and the console's CSP forbids inline scripts and styles. This draws the chart
on the server as plain ``<svg>`` markup with presentation attributes only (no
``style``), so it passes the CSP, prints, works without JavaScript, and is testable.
Each bar and point carries a ``<title>`` (the browser's native tooltip).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[int | float]
    color: str
    kind: str = "bar"  # "bar" (drawn above zero; negative values below) or "line"


def nice_step(span: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 5 × 10^n) so that about ``ticks`` steps cover ``span``."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return max(1.0, m * power)  # counts: never fractional steps
    return 10 * power  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def render(labels: Sequence[str], series: Sequence[Series], *, title: str = "", width: int = 760,
           height: int = 260, label_every: int | None = None) -> SafeString:
    """The chart as ``<svg>`` markup (safe to put in a template: every text is escaped)."""
    n = len(labels)
    for s in series:
        if len(s.values) != n:
            raise ValueError(f"series {s.label!r} has {len(s.values)} values for {n} labels")
    left, right, top, bottom = 44, 12, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s.values] or [0]
    hi, lo = max(0, *values), min(0, *values)
    step = nice_step(hi - lo if hi > lo else 1)
    hi = math.ceil(hi / step) * step if hi > 0 else 0
    lo = math.floor(lo / step) * step if lo < 0 else 0
    if hi == lo:
        hi = lo + step

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    slot = plot_w / max(n, 1)
    bars = [s for s in series if s.kind == "bar"]
    bar_w = max(1.0, slot * 0.8 / max(len(bars), 1)) if bars else 0
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}" class="mb-chart" font-family="sans-serif" font-size="11">',
    ]
    if title:
        out.append(f"<title>{escape(title)}</title>")
    # grid and y ticks
    tick = lo
    while tick <= hi + 1e-9:
        ty = _num(y(tick))
        color = "#6c757d" if tick == 0 else "#dee2e6"
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{ty}" y2="{ty}" stroke="{color}" '
                   'stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{ty}" text-anchor="end" dominant-baseline="middle" '
                   f'fill="#6c757d">{_fmt(tick)}</text>')
        tick += step
    # x labels
    every = label_every or max(1, math.ceil(n / 10))
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            cx = _num(left + slot * (i + 0.5))
            out.append(f'<text x="{cx}" y="{height - bottom + 16}" text-anchor="middle" '
                       f'fill="#6c757d">{escape(label)}</text>')
    # bars
    for b, s in enumerate(bars):
        for i, v in enumerate(s.values):
            x = left + slot * i + slot * 0.1 + b * bar_w
            y0, y1 = sorted((y(0), y(v)))
            out.append(f'<rect x="{_num(x)}" y="{_num(y0)}" width="{_num(bar_w)}" '
                       f'height="{_num(max(y1 - y0, 0))}" fill="{escape(s.color)}">'
                       f"<title>{escape(labels[i])} {escape(s.label)}: {_fmt(v)}</title></rect>")
    # lines
    for s in (s for s in series if s.kind == "line"):
        points = " ".join(f"{_num(left + slot * (i + 0.5))},{_num(y(v))}" for i, v in enumerate(s.values))
        if points:
            out.append(f'<polyline points="{points}" fill="none" stroke="{escape(s.color)}" '
                       'stroke-width="2"/>')
        for i, v in enumerate(s.values):
            out.append(f'<circle cx="{_num(left + slot * (i + 0.5))}" cy="{_num(y(v))}" r="2.5" '
                       f'fill="{escape(s.color)}"><title>{escape(labels[i])} {escape(s.label)}: '
                       f"{_fmt(v)}</title></circle>")
    # legend
    lx = left
    for s in series:
        if s.kind == "line":
            out.append(f'<line x1="{lx}" x2="{lx + 14}" y1="12" y2="12" stroke="{escape(s.color)}" '
                       'stroke-width="2"/>')
        else:
            out.append(f'<rect x="{lx}" y="6" width="14" height="12" fill="{escape(s.color)}"/>')
        out.append(f'<text x="{lx + 18}" y="12" dominant-baseline="middle" fill="#212529">'
                   f"{escape(s.label)}</text>")
        lx += 28 + 12 * len(s.label)
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above
