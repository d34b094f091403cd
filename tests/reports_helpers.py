"""Helpers for the report tests: a stdlib HTML inspector and a tiny PNG decoder."""

import re
import struct
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import numpy as np

URL_ATTRIBUTES = {"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset"}
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)", re.IGNORECASE)


@dataclass
class PageFacts:
    """What the HTML contains, as seen by ``html.parser``."""

    tags: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    charts: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    css_urls: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    open_elements: list[str] = field(default_factory=list)


VOID = {"meta", "br", "img", "input", "link", "hr", "area", "base", "col", "source", "wbr"}
# SVG children written self-closing (``<rect .../>``) close themselves.
SELF_CLOSING_OK = {"rect", "line", "circle", "path", "polyline", "stop"}


class _Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.facts = PageFacts()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs)
        if tag not in VOID:
            self.facts.open_elements.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.facts.tags.append(tag)
        values = dict(attrs)
        if values.get("id"):
            self.facts.ids.add(str(values["id"]))
        if tag == "svg" and values.get("data-chart"):
            self.facts.charts.append(str(values["data-chart"]))
        for name, value in attrs:
            if name in URL_ATTRIBUTES and value is not None:
                self.facts.urls.append(value)
            if name == "style" and value:
                self.facts.css_urls += CSS_URL.findall(value)
            if value and "url(" in value:
                self.facts.css_urls += CSS_URL.findall(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False
        stack = self.facts.open_elements
        if not stack or stack[-1] != tag:
            raise AssertionError(f"</{tag}> does not close <{stack[-1] if stack else None}>")
        stack.pop()

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.facts.css_urls += CSS_URL.findall(data)
        elif data.strip():
            self.facts.text.append(data.strip())


def inspect_html(html: str) -> PageFacts:
    """Parse ``html`` with the standard library; fails on mismatched end tags."""
    parser = _Inspector()
    parser.feed(html)
    parser.close()
    assert parser.facts.open_elements == [], f"unclosed: {parser.facts.open_elements}"
    return parser.facts


def external_references(facts: PageFacts) -> list[str]:
    """Every URL that would make a browser fetch something (anything but ``#fragment``).

    A ``data:`` URI (the heatmap's embedded PNG) carries its bytes and fetches nothing.
    """
    found = [
        u
        for u in facts.urls
        if not u.startswith("data:") and (EXTERNAL.match(u) or (u and not u.startswith("#")))
    ]
    found += [u for u in facts.css_urls if not u.startswith("#")]
    return found


def png_pixels(data: bytes) -> "np.ndarray[Any, np.dtype[np.uint8]]":
    """Decode an 8-bit RGB(A), non-interlaced PNG to an array of shape (height, width, 3).

    zlib + struct for the container; the scanline filters are undone with numpy along
    anti-diagonals (a pixel depends only on its left, upper and upper-left neighbours), so
    a 1400 x 2000 screenshot decodes in well under a second.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8)
    lines = raw.reshape(height, width * channels + 1)
    filters = lines[:, 0].astype(np.int64)
    assert set(np.unique(filters).tolist()) <= {0, 1, 2, 3, 4}, "bad filter type"
    filtered = lines[:, 1:].reshape(height, width, channels).astype(np.int64)
    out = np.zeros((height, width, channels), dtype=np.int64)
    for d in range(height + width - 1):
        y = np.arange(max(0, d - width + 1), min(height, d + 1))
        x = d - y
        has_left = (x > 0)[:, None]
        has_up = (y > 0)[:, None]
        a = np.where(has_left, out[y, x - 1], 0)
        b = np.where(has_up, out[y - 1, x], 0)
        c = np.where(has_left & has_up, out[y - 1, x - 1], 0)
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        row_filter = filters[y][:, None]
        predictor = np.select(
            [row_filter == f for f in (1, 2, 3, 4)], [a, b, (a + b) // 2, paeth], 0
        )
        out[y, x] = (filtered[y, x] + predictor) & 0xFF
    return out[:, :, :3].astype(np.uint8)
