"""The failure timeline (conformance/html.py) in a real headless Chromium: the page is
loaded, its script runs, and the bars are there, both in the DOM after the script ran and
as pixels of the bar colour in a screenshot. Skips only when Chromium is missing and
tools/ensure_chromium.sh cannot install it."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from models.linearizability import Op

from .check import main
from .html import BAR_RGB, Bar, render, render_history

ROOT = Path(__file__).resolve().parent.parent
BROWSER_TIMEOUT_S = 90
WIDTH, HEIGHT = 1000, 500

# write 1, write 2, two reads that both return 1 (not linearizable), a pending close
FAILING = [
    {"process": "a", "type": "invoke", "f": "write", "value": 1, "time": 0},
    {"process": "a", "type": "ok", "f": "write", "value": None, "time": 10},
    {"process": "a", "type": "invoke", "f": "write", "value": 2, "time": 20},
    {"process": "b", "type": "invoke", "f": "read", "value": {"count": 1, "block": False, "timeout": None}, "time": 25},
    {"process": "a", "type": "ok", "f": "write", "value": None, "time": 30},
    {"process": "b", "type": "ok", "f": "read", "value": [1], "time": 35},
    {"process": "b", "type": "invoke", "f": "read", "value": {"count": 1, "block": False, "timeout": None}, "time": 40},
    {"process": "b", "type": "ok", "f": "read", "value": [1], "time": 50},
    {"process": "c", "type": "invoke", "f": "close", "value": None, "time": 55},
    {"process": "c", "type": "info", "f": "close", "value": None, "time": 60},
]


def chromium() -> str:
    """:return: the browser's path, installing it if we can; skips with the reason if not."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    script = ROOT / "tools" / "ensure_chromium.sh"
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=900)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip(f"chromium is absent and not installable: {done.stderr.strip() or done.stdout.strip()}")
    return found


def browse(page: Path, *action: str) -> subprocess.CompletedProcess[bytes]:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        return subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
             *action, page.as_uri()],
            capture_output=True, timeout=BROWSER_TIMEOUT_S, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Path, png: Path) -> list[tuple[int, int, int]]:
    browse(page, f"--screenshot={png}")
    return decode_png(png.read_bytes())


def dom(page: Path) -> str:
    return browse(page, "--dump-dom").stdout.decode()


def decode_png(data: bytes) -> list[tuple[int, int, int]]:
    """:return: the RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        start = y * (stride + 1)
        method, row = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            if method == 1:
                row[i] = (row[i] + left) & 255
            elif method == 2:
                row[i] = (row[i] + up) & 255
            elif method == 3:
                row[i] = (row[i] + (left + up) // 2) & 255
            elif method == 4:
                corner = previous[i - channels] if i >= channels else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                guess = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + guess) & 255
        pixels.extend((row[i], row[i + 1], row[i + 2]) for i in range(0, stride, channels))
        previous = row
    return pixels


@pytest.mark.timeout(600)
def test_checker_failure_page_renders_its_bars(tmp_path: Path) -> None:
    history = tmp_path / "failing.jsonl"
    history.write_text("".join(json.dumps(e) + "\n" for e in FAILING))
    page = tmp_path / "failure.html"
    assert main([str(history), "--html", str(page)], out=io.StringIO()) == 1
    text = dom(page)
    assert text.count('class="bar"') == 3  # the two writes and the first read
    assert text.count('class="bar culprit"') == 1  # the second read
    assert text.count('class="bar pending"') == 1  # the close of unknown outcome
    assert text.count('class="window"') == 1
    assert "read(1, block=False) → [1]" in text
    pixels = screenshot(page, tmp_path / "failure.png")
    assert len(pixels) == WIDTH * HEIGHT
    bar = sum(1 for p in pixels if p == BAR_RGB)
    culprit = sum(1 for p in pixels if p == (220, 38, 38))
    window = sum(1 for p in pixels if all(abs(a - b) <= 3 for a, b in zip(p, (253, 237, 173))))
    # three bars of at least 60 px by 20, less their labels; the window's band
    assert bar > 3 * 60 * 20 // 2, f"{bar} pixels of the bar colour"
    assert culprit > 200, f"{culprit} pixels of the culprit colour"
    assert window > 500, f"{window} pixels of the window colour"


@pytest.mark.timeout(600)
def test_explorer_trace_page_shows_sync_points(tmp_path: Path) -> None:
    ops = [Op("T1", "write", 1, None, 0, 100), Op("T2", "read", (1, True), [1], 50, 150)]
    sync = [{"thread": "T1", "point": "ACQUIRE", "primitive": "Channel.mutex", "time": 10},
            {"thread": "T1", "point": "NOTIFY", "primitive": "not_empty", "time": 60},
            {"thread": "T2", "point": "WAIT", "primitive": "not_empty", "time": 55},
            {"thread": "T2", "point": "WAKE", "primitive": "not_empty", "time": 70}]
    page = tmp_path / "trace.html"
    page.write_text(render_history(ops, "explorer schedule 3", (50, 100), None, sync))
    text = dom(page)
    assert text.count('class="bar"') == 2
    assert text.count('class="sync"') == 4
    assert "T2: WAIT not_empty @ 55 ns" in text
    pixels = screenshot(page, tmp_path / "trace.png")
    bar = sum(1 for p in pixels if p == BAR_RGB)
    ticks = sum(1 for p in pixels if p == (22, 163, 74))
    assert bar > 2 * 60 * 20 // 2, f"{bar} pixels of the bar colour"
    assert ticks > 4 * 20, f"{ticks} pixels of the sync point colour"


def test_page_is_self_contained_and_escapes_its_data() -> None:
    page = render("<t>", [Bar("x</script>", 0, 5, "write('</script>')", "ok")], [(0, 5)])
    assert "<t>" not in page and "&lt;t&gt;" in page
    assert page.count("</script>") == 2  # the data block's end and the code's, nothing else
    assert "http://" not in page and "https://" not in page and "src=" not in page


def test_sync_points_need_every_field() -> None:
    with pytest.raises(ValueError, match="primitive"):
        render("t", [], [], [{"thread": "T1", "point": "WAIT", "time": 1}])
