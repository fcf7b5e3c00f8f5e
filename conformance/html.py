"""One self-contained HTML file picturing a history: a timeline per thread, each operation
a bar from its invoke to its return labelled with its arguments and result, the failing
window highlighted (and, when there is one, the view zoomed to it), and (for explorer
traces) the synchronization points.

Used by ``python -m conformance.check --html``, ``python -m stress --html`` and the
explorer. The input is neutral:

* operations: :class:`models.linearizability.Op` (``thread``, ``kind``, ``arg``,
  ``result``, ``call`` and ``ret`` in nanoseconds, ``ret`` None when pending), or
  :class:`Bar` for anything else;
* ``window``: ``(start, end)`` in the same nanoseconds, or None;
* ``sync_points``: mappings ``{"thread": str, "point": str, "primitive": str, "time": int}``
  (``point`` e.g. "ACQUIRE", ``primitive`` e.g. "Channel.mutex", ``time`` on the same
  clock as the operations), drawn as ticks on their thread's timeline.

No network, no external file: the page carries its data as JSON and draws it with a few
lines of script (an "event order" scale, each distinct time one step, or real time).
Nothing in the data can change the page (see :func:`render`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from models.linearizability import Op

from .text import call_label, outcome_label, value

if TYPE_CHECKING:
    from .check import Verdict

__all__ = (
    "BAR_RGB",
    "Bar",
    "bars_of",
    "encodable",
    "fill",
    "html_text",
    "render",
    "render_history",
    "render_verdicts",
    "script_json",
)

#: The fill of an operation that returned normally (tests count these pixels).
BAR_RGB = (37, 99, 235)
_BAR = "#{:02x}{:02x}{:02x}".format(*BAR_RGB)


@dataclass(frozen=True)
class Bar:
    """One operation on one thread's timeline."""

    thread: str
    start: int  # ns
    end: int | None  # ns; None: never returned (outcome unknown)
    label: str  # the call, e.g. "write(3)"
    result: str  # e.g. "ok", "[1, 2]", "ReadOnly", "unknown"
    group: str = ""  # the channel (key) when a page shows several
    culprit: bool = False  # the operation the checker could not place
    failed: bool = False  # returned an error (ReadOnly, Full)


def bars_of(ops: Sequence[Op], group: str = "", culprit: int | None = None) -> list[Bar]:
    """:return: one bar per operation (``culprit``: the index of the one to mark)."""
    return [
        Bar(
            op.thread,
            op.call,
            op.ret,
            call_label(op),
            outcome_label(op),
            group,
            i == culprit,
            op.ret is not None and op.kind == "write" and op.result is not None,
        )
        for i, op in enumerate(ops)
    ]


def render_history(
    ops: Sequence[Op],
    title: str,
    window: tuple[int, int] | None = None,
    culprit: int | None = None,
    sync_points: Sequence[Mapping[str, object]] = (),
    notes: str = "",
) -> str:
    """:return: the page for one channel's operations (the stress harness and the
    explorer call this)."""
    return render(
        title, bars_of(ops, culprit=culprit), [window] if window else [], sync_points, notes
    )


def render_verdicts(verdicts: Sequence[Verdict], texts: Sequence[str], title: str) -> str:
    """:return: the page of the checker's channels, one group of lanes per key when there
    are several; ``texts`` are the verdicts as the checker printed them."""
    bars: list[Bar] = []
    windows: list[tuple[int, int] | tuple[int, int, str]] = []
    several = len(verdicts) > 1
    for verdict in verdicts:
        channel = verdict.channel
        group = f"key {value(channel.key)}" if several else ""
        window = verdict.window
        bars.extend(bars_of(channel.ops, group, None if window is None else window.culprit))
        if window is not None:
            windows.append((window.start, window.end, group))
    return render(title, bars, windows, (), "\n\n".join(texts))


def render(
    title: str,
    bars: Sequence[Bar],
    windows: Sequence[tuple[int, int] | tuple[int, int, str]] = (),
    sync_points: Sequence[Mapping[str, object]] = (),
    notes: str = "",
) -> str:
    """:return: the whole HTML page. A window ``(start, end, group)`` covers the lanes of
    that group only; ``(start, end)`` covers every lane. The page opens zoomed to the
    first window, if any (``#all`` at the end of its address: the whole history).

    Every string is data: the template is filled in one pass, the title and notes are
    HTML-escaped, and the bars, windows and sync points travel as JSON in which ``<``,
    ``>``, ``&`` and every non-ASCII character are ``\\u`` escapes; the page's script
    writes them with ``textContent``, never as markup."""
    for point in sync_points:
        missing = {"thread", "point", "primitive", "time"} - set(point)
        if missing:
            raise ValueError(f"a sync point needs {sorted(missing)}: {dict(point)!r}")
    times = [b.start for b in bars] + [b.end for b in bars if b.end is not None]
    times += [int(str(p["time"])) for p in sync_points]
    times += [t for w in windows for t in w[:2]]
    origin = min(times, default=0)
    data = {
        "bars": [
            dict(
                asdict(b),
                thread=encodable(b.thread),
                label=encodable(b.label),
                result=encodable(b.result),
                group=encodable(b.group),
                start=b.start - origin,
                end=None if b.end is None else b.end - origin,
            )
            for b in bars
        ],
        "windows": [
            [w[0] - origin, w[1] - origin, encodable(w[2]) if len(w) == 3 else ""] for w in windows
        ],
        "sync": [
            {
                "thread": encodable(str(p["thread"])),
                "point": encodable(str(p["point"])),
                "primitive": encodable(str(p["primitive"])),
                "time": int(str(p["time"])) - origin,
            }
            for p in sync_points
        ],
    }
    return fill(
        _PAGE, TITLE=html_text(title), NOTES=html_text(notes), BAR=_BAR, DATA=script_json(data)
    )


def encodable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates, which JSON's ``"\\ud800"``
    gives) spelled out as ``\\udXXX``: the page can be written, and a browser's DOM holds
    no lone surrogate."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def html_text(text: str) -> str:
    """``text`` as HTML text or a quoted attribute value: markup characters and quotes
    escaped (and lone surrogates spelled out, :func:`encodable`)."""
    return html.escape(encodable(text), quote=True)


def script_json(value: object) -> str:
    """``value`` as JSON that can sit inside ``<script>``: ``<``, ``>`` and ``&`` are
    written as ``\\u`` escapes (so neither ``</script>`` nor ``<!--`` can appear), and
    everything beyond ASCII too (U+2028/2029, lone surrogates). NaN is refused."""
    text = json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_PLACEHOLDER = re.compile(r"%([A-Z]+)%")


def fill(template: str, **values: str) -> str:
    """The template with each ``%NAME%`` replaced by ``values[NAME]``, in one pass: a value
    is never searched for placeholders. Every placeholder must be given and used.

    :raise KeyError: a placeholder without a value, or a value without a placeholder."""
    used = set(_PLACEHOLDER.findall(template))
    if used != set(values):
        raise KeyError(f"placeholders {sorted(used)} but values for {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<style>
body { font: 13px/1.4 system-ui, sans-serif; margin: 16px; color: #111; background: #fff; }
h1 { font-size: 16px; margin: 0 0 8px; overflow-wrap: anywhere; }
pre.notes { background: #f6f6f6; padding: 8px; max-height: 320px; overflow: auto; font-size: 12px; }
#controls { margin: 8px 0; }
#controls button { margin-right: 6px; }
#timeline { position: relative; overflow-x: auto; overflow-y: hidden; border: 1px solid #ccc; }
#canvas { position: relative; }
.lane { position: absolute; left: 0; height: 30px; border-bottom: 1px solid #eee; }
.lane-name { position: sticky; left: 0; display: inline-block; width: 112px; padding: 7px 4px 0;
  height: 23px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; font-weight: 600;
  background: rgba(255, 255, 255, 0.9); z-index: 4; }
.bar { position: absolute; height: 20px; top: 5px; min-width: 3px; background: %BAR%;
  color: #fff; font-size: 11px; line-height: 20px; white-space: nowrap; overflow: hidden;
  box-sizing: border-box; padding: 0 3px; border-radius: 2px; z-index: 2; }
.bar.failed { background: #b45309; }
.bar.pending { background: repeating-linear-gradient(45deg, #64748b, #64748b 4px, #94a3b8 4px, #94a3b8 8px); }
.bar.culprit { background: #dc2626; outline: 2px solid #000; }
.window { position: absolute; top: 0; height: 100%; background: rgba(250, 204, 21, 0.35);
  border-left: 2px solid #ca8a04; border-right: 2px solid #ca8a04; z-index: 1; }
.sync { position: absolute; width: 2px; height: 30px; top: 0; background: #16a34a; z-index: 3; }
pre.notes:empty { display: none; }
.legend span { display: inline-block; padding: 0 6px; margin-right: 6px; color: #fff; border-radius: 2px; }
</style></head>
<body>
<h1>%TITLE%</h1>
<div class="legend"><span style="background:%BAR%">returned</span><span style="background:#b45309">error</span><span style="background:#64748b">unknown (info)</span><span style="background:#dc2626">could not be placed</span><span style="background:#ca8a04">failing window</span><span style="background:#16a34a">sync point</span></div>
<div id="controls"><label><input type="checkbox" id="realtime"> real time (default: event order)</label>
<label>zoom <input type="range" id="zoom" min="0" max="1000" value="0"></label>
<button type="button" id="show-window" hidden>failing window</button><button type="button" id="show-all">whole history</button>
<span id="zoom-shown"></span></div>
<div id="timeline"><div id="canvas"></div></div>
<pre class="notes">%NOTES%</pre>
<script type="application/json" id="data">%DATA%</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("data").textContent);
  var timeline = document.getElementById("timeline");
  var canvas = document.getElementById("canvas");
  var slider = document.getElementById("zoom");
  var realtimeBox = document.getElementById("realtime");
  var LEFT = 120, LANE = 30, RIGHT = 90, MAX_CANVAS = 8000000;
  var zoom = 1;
  var view = 600;  // the width the whole history takes at zoom 1, set before each draw

  var lanes = [], laneOf = new Map();
  function lane(group, thread) {
    var key = JSON.stringify([group, thread]);
    if (!laneOf.has(key)) { laneOf.set(key, lanes.length); lanes.push([group, thread]); }
    return laneOf.get(key);
  }
  data.bars.forEach(function (b) { lane(b.group, b.thread); });
  data.sync.forEach(function (p) { lane("", p.thread); });

  var times = [];
  data.bars.forEach(function (b) { times.push(b.start); if (b.end !== null) times.push(b.end); });
  data.sync.forEach(function (p) { times.push(p.time); });
  data.windows.forEach(function (w) { times.push(w[0], w[1]); });
  times.sort(function (a, b) { return a - b; });
  var uniq = times.filter(function (t, i) { return i === 0 || t !== times[i - 1]; });
  var last = uniq.length ? uniq[uniq.length - 1] : 1;
  var rank = new Map();
  uniq.forEach(function (t, i) { rank.set(t, i); });
  var steps = Math.max(1, uniq.length - 1);
  // where a time falls in the whole history, from 0 to 1
  function at(t) { return realtimeBox.checked ? t / (last || 1) : rank.get(t) / steps; }
  // read once per change: reading a layout size after the DOM changed costs a layout
  function measure() { view = Math.max(600, timeline.clientWidth - LEFT - RIGHT); }
  function maxZoom() { return Math.max(1, MAX_CANVAS / view); }
  function x(t) { return LEFT + at(t) * view * zoom; }

  var drawn = [];  // [div, left, width] of every bar, to keep the labels in view
  function draw() {
    var end = LEFT + view * zoom + RIGHT;
    canvas.textContent = "";
    drawn = [];
    canvas.style.height = (lanes.length * LANE) + "px";
    canvas.style.width = end + "px";
    lanes.forEach(function (l, i) {
      var div = document.createElement("div");
      div.className = "lane"; div.style.top = (i * LANE) + "px"; div.style.width = end + "px";
      var name = document.createElement("div");
      name.className = "lane-name"; name.textContent = (l[0] ? l[0] + " / " : "") + l[1];
      name.title = name.textContent; div.appendChild(name); canvas.appendChild(div);
    });
    data.windows.forEach(function (w) {
      var div = document.createElement("div");
      var mine = [];
      lanes.forEach(function (l, i) { if (!w[2] || l[0] === w[2]) mine.push(i); });
      if (mine.length) {
        div.style.top = (mine[0] * LANE) + "px";
        div.style.height = ((mine[mine.length - 1] - mine[0] + 1) * LANE) + "px";
      }
      div.className = "window"; div.style.left = x(w[0]) + "px";
      div.style.width = Math.max(2, x(w[1]) - x(w[0])) + "px";
      div.title = "smallest failing window " + w[0] + " .. " + w[1] + " ns";
      canvas.appendChild(div);
    });
    data.bars.forEach(function (b) {
      var div = document.createElement("div");
      var cls = "bar";
      if (b.end === null) cls += " pending"; else if (b.failed) cls += " failed";
      if (b.culprit) cls += " culprit";
      div.className = cls;
      var right = b.end === null ? end - 10 : x(b.end);
      var width = Math.max(3, right - x(b.start));
      div.style.left = x(b.start) + "px";
      div.style.width = width + "px";
      drawn.push([div, x(b.start), width]);
      div.style.top = (lane(b.group, b.thread) * LANE + 5) + "px";
      div.textContent = b.label + " \\u2192 " + b.result;
      div.title = b.thread + ": " + b.label + " -> " + b.result + "  [" + b.start + ", " +
        (b.end === null ? "unknown" : b.end) + "] ns";
      canvas.appendChild(div);
    });
    data.sync.forEach(function (p) {
      var div = document.createElement("div");
      div.className = "sync"; div.style.left = x(p.time) + "px";
      div.style.top = (lane("", p.thread) * LANE) + "px";
      div.title = p.thread + ": " + p.point + " " + p.primitive + " @ " + p.time + " ns";
      canvas.appendChild(div);
    });
    slider.value = String(Math.round(1000 * Math.log(zoom) / Math.log(maxZoom() || 1) || 0));
    document.getElementById("zoom-shown").textContent = zoom > 1.01 ? "\\u00d7" + zoom.toFixed(zoom < 10 ? 1 : 0) : "";
  }
  // a bar that starts left of the view shows its label from the view's left edge
  var labelsPending = false;
  function keepLabelsInView() {
    labelsPending = false;
    var edge = timeline.scrollLeft + LEFT;
    drawn.forEach(function (d) {
      var indent = d[1] < edge && d[1] + d[2] > edge ? Math.min(edge - d[1], d[2] - 40) : 0;
      var text = indent > 0 ? indent + "px" : "";
      if (d[0].style.textIndent !== text) d[0].style.textIndent = text;
    });
  }
  timeline.addEventListener("scroll", function () {
    if (!labelsPending) { labelsPending = true; requestAnimationFrame(keepLabelsInView); }
  });
  // zoom to ``next``, keeping the history's point ``fraction`` (0..1) at the view's centre
  function zoomTo(next, fraction) {
    measure();
    var visible = timeline.clientWidth;
    zoom = Math.min(maxZoom(), Math.max(1, next));
    draw();
    timeline.scrollLeft = LEFT + fraction * view * zoom - visible / 2;
    keepLabelsInView();
  }
  function centre() {
    return (timeline.scrollLeft + timeline.clientWidth / 2 - LEFT) / (view * zoom);
  }
  // the failing window fills about two thirds of the view, centred
  function showWindow() {
    var w = data.windows[0];
    var span = Math.max(at(w[1]) - at(w[0]), 1 / (steps * 4));
    measure();
    zoomTo(0.66 * (timeline.clientWidth - LEFT) / (span * view), (at(w[0]) + at(w[1])) / 2);
  }
  slider.addEventListener("input", function () {
    zoomTo(Math.exp(+slider.value / 1000 * Math.log(maxZoom())), centre());
  });
  realtimeBox.addEventListener("change", function () {
    if (data.windows.length) showWindow(); else zoomTo(zoom, centre());
  });
  document.getElementById("show-all").addEventListener("click", function () { zoomTo(1, 0); });
  var windowButton = document.getElementById("show-window");
  if (data.windows.length) {
    windowButton.hidden = false;
    windowButton.addEventListener("click", showWindow);
    if (location.hash === "#all") zoomTo(1, 0); else showWindow();
  } else {
    zoomTo(1, 0);
  }
})();
</script>
</body></html>
"""
