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
from html.parser import HTMLParser
from pathlib import Path

import pytest

from models.linearizability import Op

from .check import main
from .history import ChannelHistory, write_history_file
from .html import BAR_RGB, Bar, bars_of, fill, render, render_history

ROOT = Path(__file__).resolve().parent.parent
BROWSER_TIMEOUT_S = 90
WIDTH, HEIGHT = 1000, 500

# write 1, write 2, two reads that both return 1 (not linearizable), a pending close
FAILING = [
    {"process": "a", "type": "invoke", "f": "write", "value": 1, "time": 0},
    {"process": "a", "type": "ok", "f": "write", "value": None, "time": 10},
    {"process": "a", "type": "invoke", "f": "write", "value": 2, "time": 20},
    {
        "process": "b",
        "type": "invoke",
        "f": "read",
        "value": {"count": 1, "block": False, "timeout": None},
        "time": 25,
    },
    {"process": "a", "type": "ok", "f": "write", "value": None, "time": 30},
    {"process": "b", "type": "ok", "f": "read", "value": [1], "time": 35},
    {
        "process": "b",
        "type": "invoke",
        "f": "read",
        "value": {"count": 1, "block": False, "timeout": None},
        "time": 40,
    },
    {"process": "b", "type": "ok", "f": "read", "value": [1], "time": 50},
    {"process": "c", "type": "invoke", "f": "close", "value": None, "time": 55},
    {"process": "c", "type": "info", "f": "close", "value": None, "time": 60},
]


def run_check(*args: object) -> tuple[int, str]:
    out = io.StringIO()
    return main([str(a) for a in args], out=out), out.getvalue()


def chromium() -> str:
    """:return: the browser's path, installing it if we can; skips with the reason if not."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    script = ROOT / "tools" / "ensure_chromium.sh"
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=900)
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip(
            f"chromium is absent and not installable: {done.stderr.strip() or done.stdout.strip()}"
        )
    return found


def browse(page: Path, *action: str, fragment: str = "") -> subprocess.CompletedProcess[bytes]:
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        return subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--window-size={WIDTH},{HEIGHT}",
                *action,
                page.as_uri() + fragment,
            ],
            capture_output=True,
            timeout=BROWSER_TIMEOUT_S,
            check=True,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(page: Path, png: Path, fragment: str = "") -> list[tuple[int, int, int]]:
    browse(page, f"--screenshot={png}", fragment=fragment)
    return decode_png(png.read_bytes())


def dom(page: Path, *flags: str) -> str:
    return browse(page, *flags, "--dump-dom").stdout.decode()


def decode_png(data: bytes) -> list[tuple[int, int, int]]:
    """:return: the RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
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
        method, row = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
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
    assert text.count('class="bar"') == 3  # the two writes and the first read (in the DOM
    # although the page opens zoomed to the window)
    assert text.count('class="bar culprit"') == 1  # the second read
    assert text.count('class="bar pending"') == 1  # the close of unknown outcome
    assert text.count('class="window"') == 1
    assert "read(1, block=false) → [1]" in text
    # the whole history (#all): every bar
    pixels = screenshot(page, tmp_path / "failure.png", "#all")
    assert len(pixels) == WIDTH * HEIGHT
    bar = sum(1 for p in pixels if p == BAR_RGB)
    assert bar > 3 * 60 * 20 // 2, f"{bar} pixels of the bar colour"
    # as it opens: zoomed to the failing window, which fills most of the view
    pixels = screenshot(page, tmp_path / "zoomed.png")
    culprit = sum(1 for p in pixels if p == (220, 38, 38))
    window = sum(
        1 for p in pixels if all(abs(a - b) <= 3 for a, b in zip(p, (253, 237, 173), strict=False))
    )
    assert culprit > 400 * 20, f"{culprit} pixels of the culprit colour"
    assert window > (WIDTH - 200) // 2 * 30, f"{window} pixels of the window colour"


@pytest.mark.timeout(600)
def test_explorer_trace_page_shows_sync_points(tmp_path: Path) -> None:
    ops = [Op("T1", "write", 1, None, 0, 100), Op("T2", "read", (1, True), [1], 50, 150)]
    sync = [
        {"thread": "T1", "point": "ACQUIRE", "primitive": "Channel.mutex", "time": 10},
        {"thread": "T1", "point": "NOTIFY", "primitive": "not_empty", "time": 60},
        {"thread": "T2", "point": "WAIT", "primitive": "not_empty", "time": 55},
        {"thread": "T2", "point": "WAKE", "primitive": "not_empty", "time": 70},
    ]
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


# --- hostile strings: nothing from a history, a file name or a value changes the page ----

#: What an injected script would do: the Chromium tests look for both effects.
PWN = "document.title='PWNED';document.documentElement.setAttribute('data-pwned','1')"
HOSTILE = [
    f'<img src=x onerror="{PWN}">',
    f'<svg onload="{PWN}"></svg>',
    f"</script><script>{PWN}</script>",
    "<!--<script>",
    "%DATA%",
    "%TITLE%",
    "%NOTES%",
    "%BAR%",
    f'" onmouseover="{PWN}" x="',
    "' onfocus='x",
    "\u2028\u2029",
    "]]>&amp;&lt;",
    "</title></pre></style></div>",
    "__proto__",
    "constructor",
    "\ud800",  # a lone surrogate: valid in JSON ("\\ud800"), not encodable as UTF-8
]
#: A file name cannot hold "/" or NUL.
HOSTILE_NAME = f'<img src=x onerror="{PWN}">%DATA%%TITLE%.jsonl'


class _Elements(HTMLParser):
    """The elements of a page, as (tag, attribute names), and their classes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.classes: list[str] = []
        self.root: dict[str, str | None] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(sorted(name for name, _ in attrs))))
        self.classes.extend(value or "" for name, value in attrs if name == "class")
        if tag == "html":
            self.root = dict(attrs)
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def elements(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    parser.close()
    return parser


def data_block(page: str) -> object:
    """The page's JSON data, parsed as the page's own script parses it."""
    start = page.index('<script type="application/json" id="data">') + len(
        '<script type="application/json" id="data">'
    )
    return json.loads(page[start : page.index("</script>", start)])


def hostile_page(value: str) -> str:
    ops = [
        Op(value, "write", value, None, 0, 10),
        Op("b", "read", (1, False), [value], 5, 20),
        Op(value, "close", None, None, 30, None),
    ]
    bars = bars_of(ops, group=value, culprit=1)
    sync = [{"thread": value, "point": value, "primitive": value, "time": 7}]
    return render(value, bars, [(5, 20, value)], sync, notes=value)


@pytest.mark.parametrize("value", HOSTILE)
def test_no_string_changes_the_markup(value: str) -> None:
    """Every field of the page holds the hostile string: the elements are those of a page
    of plain strings, and the data the script reads holds the string unchanged."""
    page, plain = hostile_page(value), hostile_page("x")
    assert elements(page).tags == elements(plain).tags
    assert page.count("<script") == plain.count("<script") == 2
    assert page.count("</script>") == 2 and "<!--" not in page
    assert elements(page).title == value.replace("\ud800", "\\ud800")
    data = data_block(page)
    assert isinstance(data, dict)
    value = value.replace("\ud800", "\\ud800")  # lone surrogates are spelled out
    assert [b["thread"] for b in data["bars"]] == [value, "b", value]
    assert data["bars"][0]["group"] == value and data["windows"][0][2] == value
    assert data["sync"][0]["primitive"] == value
    page.encode("utf-8")  # writable as the page's charset says


def hostile_history(tmp_path: Path) -> tuple[Path, int]:
    """A history whose processes, keys and items are the hostile strings, under a hostile
    file name: one channel linearizable, one not. :return: the file and its operations."""
    good = ChannelHistory(HOSTILE[0], 0)
    bad = ChannelHistory(HOSTILE[2], 0)
    for i, value in enumerate(HOSTILE):
        t = 100 * i
        good.ops += [
            Op(value, "write", f"{value}{i}", None, t, t + 10),
            Op(value, "read", (1, False), [f"{value}{i}"], t + 20, t + 30),
        ]
        bad.ops.append(Op(value + "!", "write", value, None, t, t + 10))
    bad.ops.append(Op("reader", "read", (0, False), HOSTILE[:3] + HOSTILE[:1], 10_000, 10_010))
    path = tmp_path / HOSTILE_NAME
    write_history_file(str(path), [good, bad])
    return path, len(good.ops) + len(bad.ops)


def assert_safe_and_complete(page: Path, bars: int) -> _Elements:
    """Opens the page in Chromium: no injected script ran, and the page's script drew
    ``bars`` bars."""
    after = elements(dom(page, "--virtual-time-budget=2000"))
    assert "data-pwned" not in after.root, "an injected script ran"
    assert after.title != "PWNED", "an injected script ran"
    drawn = [c for c in after.classes if c.split()[0] == "bar"]
    assert len(drawn) == bars, f"{len(drawn)} of {bars} bars drawn"
    return after


def test_the_browser_check_catches_a_script_that_runs(tmp_path: Path) -> None:
    """The check's broken variant: a page that pastes a hostile string raw."""
    page = tmp_path / "unsafe.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><title>t</title></head><body>"
        f'<div class="bar">{HOSTILE[0]}</div></body></html>'
    )
    with pytest.raises(AssertionError, match="an injected script ran"):
        assert_safe_and_complete(page, 1)


@pytest.mark.timeout(600)
def test_hostile_history_page_runs_no_script_and_draws_every_bar(tmp_path: Path) -> None:
    history, ops = hostile_history(tmp_path)
    page = tmp_path / "page.html"
    code, out = run_check(history, "--html", str(page))
    assert code == 1, out
    assert_safe_and_complete(page, ops)


@pytest.mark.timeout(600)
def test_hostile_explorer_page_runs_no_script_and_draws_every_bar(tmp_path: Path) -> None:
    page = tmp_path / "explorer.html"
    page.write_text(
        hostile_page(HOSTILE[0] + HOSTILE[2] + HOSTILE[3] + HOSTILE[4]), encoding="utf-8"
    )
    after = assert_safe_and_complete(page, 3)
    assert after.classes.count("sync") == 1


def test_fill_is_one_pass_and_complete() -> None:
    assert fill("<%A%|%B%>", A="%B%", B="%A%") == "<%B%|%A%>"
    with pytest.raises(KeyError):
        fill("%A%", B="x")
    with pytest.raises(KeyError):
        fill("%A%", A="x", B="y")
