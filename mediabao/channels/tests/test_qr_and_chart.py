"""The locally drawn QR images and the server-side SVG chart (no database)."""

from __future__ import annotations

import io
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
import segno
from PIL import Image

from mediabao.channels import qr, svgchart

URL = "http://weixin.qq.com/q/AbCdEfGhIjKlMnOpQrSt"


@pytest.mark.parametrize("size", qr.SIZES)
def test_png_is_exactly_the_print_size_and_carries_the_codes_modules(size):
    img = Image.open(io.BytesIO(qr.png(URL, size)))
    assert img.format == "PNG" and img.size == (size, size)
    matrix = segno.make(URL, error="m", micro=False).matrix
    n = len(matrix)
    scale = size // (n + 2 * qr.QUIET_MODULES)
    offset = (size - n * scale) // 2
    assert offset >= qr.QUIET_MODULES * scale  # the quiet zone is there
    px = img.convert("L").load()
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            value = px[offset + c * scale + scale // 2, offset + r * scale + scale // 2]
            assert (value < 128) == bool(dark), (r, c)
    assert px[0, 0] == 255 and px[size - 1, size - 1] == 255


def test_svg_is_a_valid_svg_document_with_the_title():
    data = qr.svg(URL, title="门店 <海报>")
    root = ElementTree.fromstring(data)
    assert root.tag.endswith("svg")
    assert "门店 &lt;海报&gt;" in data.decode()


def test_download_names_keep_chinese_and_have_an_ascii_fallback():
    header = qr.disposition("门店/海报: A1", "png", 430)
    assert header.startswith('attachment; filename="A1-430px.png"; ')
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == "门店_海报_ A1-430px.png"
    assert qr.disposition("推广", "svg").startswith('attachment; filename="qrcode.svg"; ')
    assert qr.filename("..", "svg") == "qrcode.svg"
    assert "\n" not in qr.disposition("a\r\nSet-Cookie: x", "svg")


def _svg(markup: str) -> ElementTree.Element:
    return ElementTree.fromstring(markup)


def test_chart_draws_one_bar_per_value_and_a_line():
    labels = ["11-01", "11-02", "11-03"]
    markup = svgchart.render(labels, [
        svgchart.Series("新增", [3, 0, 5], "#198754"),
        svgchart.Series("取关", [-1, -2, 0], "#adb5bd"),
        svgchart.Series("净增", [2, -2, 5], "#0d6efd", kind="line"),
    ], title="按天")
    root = _svg(markup)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(bars) == 6
    assert [float(b.get("height")) > 0 for b in bars] == [True, False, True, True, True, False]
    points = root.find(f"{ns}polyline").get("points").split()
    assert len(points) == 3
    tips = [t.text for t in root.iter(f"{ns}title")]
    assert "11-03 新增: 5" in tips and "11-02 净增: -2" in tips
    # the zero line sits between the positive and negative bars
    up = next(b for b in bars if b.find(f"{ns}title").text == "11-01 新增: 3")
    down = next(b for b in bars if b.find(f"{ns}title").text == "11-01 取关: -1")
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(float(down.get("y")))


def test_chart_is_csp_safe_and_escapes_text():
    markup = svgchart.render(['<script>alert(1)</script>'], [
        svgchart.Series('"><img onerror=x>', [1], "#000")], title="<b>")
    assert "<script" not in markup and "style=" not in markup and "<img" not in markup
    _svg(markup)  # still well-formed


def test_chart_handles_empty_and_flat_data():
    _svg(svgchart.render([], [svgchart.Series("a", [], "#000")]))
    root = _svg(svgchart.render(["d"] * 40, [svgchart.Series("a", [0] * 40, "#000")]))
    labels = [t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text == "d"]
    assert 4 <= len(labels) <= 11  # thinned so they do not overlap


def test_chart_refuses_mismatched_series():
    with pytest.raises(ValueError):
        svgchart.render(["a", "b"], [svgchart.Series("x", [1], "#000")])


@pytest.mark.parametrize("span,step", [(0, 1), (3, 1), (10, 2), (47, 10), (230, 50), (1000, 200)])
def test_nice_steps_are_round(span, step):
    assert svgchart.nice_step(span) == step
