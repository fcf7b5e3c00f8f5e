"""One self-contained HTML file picturing a history: a timeline per thread, each operation
a bar from its invoke to its return labelled with its arguments and result, the failing
window highlighted, and (for explorer traces) the synchronization points.

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
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

from models.linearizability import Op

if TYPE_CHECKING:
    from .check import Verdict

__all__ = ("BAR_RGB", "Bar", "bars_of", "render", "render_history", "render_verdicts")

#: The fill of an operation that returned normally (tests count these pixels).
BAR_RGB = (37, 99, 235)
_BAR = "#%02x%02x%02x" % BAR_RGB


@dataclass(frozen=True)
class Bar:
    """One operation on one thread's timeline."""

    thread: str
    start: int  # ns
    end: int | None  # ns; None: never returned (outcome unknown)
    label: str  # the call, e.g. "write(3)"
    result: str  # e.g. "ok", "[1, 2]", "ReadOnly", "?"
    group: str = ""  # the channel (key) when a page shows several
    culprit: bool = False  # the operation the checker could not place
    failed: bool = False  # returned an error (ReadOnly, Full)


def _call_label(op: Op) -> str:
    if op.kind == "read":
        arg = op.arg if isinstance(op.arg, tuple) else (op.arg,)
        timeout = f", timeout={arg[2]}" if len(arg) == 3 else ""
        block = f", block={arg[1]}" if len(arg) >= 2 else ""
        return f"read({arg[0]}{block}{timeout})"
    if op.kind == "write":
        return f"write({op.arg!r})"
    return f"{op.kind}()"


def bars_of(ops: Sequence[Op], group: str = "", culprit: int | None = None) -> list[Bar]:
    """:return: one bar per operation (``culprit``: the index of the one to mark)."""
    bars = []
    for i, op in enumerate(ops):
        if op.ret is None:
            result = "?"
        elif op.kind == "read":
            result = repr(op.result)
        else:
            result = "ok" if op.result is None else str(op.result)
        failed = op.ret is not None and op.kind == "write" and op.result is not None
        bars.append(Bar(op.thread, op.call, op.ret, _call_label(op), result, group,
                        i == culprit, failed))
    return bars


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
    return render(title, bars_of(ops, culprit=culprit), [window] if window else [],
                  sync_points, notes)


def render_verdicts(verdicts: Sequence[Verdict], title: str) -> str:
    """:return: the page of the checker's channels, one group per key."""
    bars: list[Bar] = []
    windows: list[tuple[int, int] | tuple[int, int, str]] = []
    notes: list[str] = []
    several = len(verdicts) > 1
    for verdict in verdicts:
        channel = verdict.channel
        group = f"key {channel.key!r}" if several else ""
        window = verdict.window
        bars.extend(bars_of(channel.ops, group, None if window is None else window.culprit))
        if window is not None:
            windows.append((window.start, window.end, group))
        notes.append((f"{group}: " if group else "") + verdict.status
                     + (f"\n{verdict.detail}" if verdict.detail else ""))
    return render(title, bars, windows, (), "\n\n".join(notes))


def render(
    title: str,
    bars: Sequence[Bar],
    windows: Sequence[tuple[int, int] | tuple[int, int, str]] = (),
    sync_points: Sequence[Mapping[str, object]] = (),
    notes: str = "",
) -> str:
    """:return: the whole HTML page. A window ``(start, end, group)`` covers the lanes of
    that group only; ``(start, end)`` covers every lane."""
    for point in sync_points:
        missing = {"thread", "point", "primitive", "time"} - set(point)
        if missing:
            raise ValueError(f"a sync point needs {sorted(missing)}: {dict(point)!r}")
    times = [b.start for b in bars] + [b.end for b in bars if b.end is not None]
    times += [int(str(p["time"])) for p in sync_points]
    times += [t for w in windows for t in w[:2]]
    origin = min(times, default=0)
    data = {
        "bars": [dict(asdict(b), thread=encodable(b.thread), label=encodable(b.label),
                      result=encodable(b.result), group=encodable(b.group),
                      start=b.start - origin, end=None if b.end is None else b.end - origin)
                 for b in bars],
        "windows": [[w[0] - origin, w[1] - origin, encodable(w[2]) if len(w) == 3 else ""]
                    for w in windows],
        "sync": [{"thread": encodable(str(p["thread"])), "point": encodable(str(p["point"])),
                  "primitive": encodable(str(p["primitive"])),
                  "time": int(str(p["time"])) - origin}
                 for p in sync_points],
    }
    return fill(_PAGE, TITLE=html_text(title), NOTES=html_text(notes), BAR=_BAR,
                DATA=script_json(data))


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
h1 { font-size: 16px; margin: 0 0 8px; }
pre.notes { background: #f6f6f6; padding: 8px; max-height: 240px; overflow: auto; font-size: 12px; }
#controls { margin: 8px 0; }
#timeline { position: relative; overflow-x: auto; overflow-y: hidden; border: 1px solid #ccc; }
#canvas { position: relative; }
.lane { position: absolute; left: 0; right: 0; height: 30px; border-bottom: 1px solid #eee; }
.lane-name { position: absolute; left: 4px; top: 7px; width: 110px; overflow: hidden;
  white-space: nowrap; text-overflow: ellipsis; font-weight: 600; }
.group { position: absolute; left: 4px; font-weight: 700; color: #555; }
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
<label>zoom <input type="range" id="zoom" min="1" max="20" value="1"></label></div>
<div id="timeline"><div id="canvas"></div></div>
<pre class="notes">%NOTES%</pre>
<script type="application/json" id="data">%DATA%</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById("data").textContent);
  var canvas = document.getElementById("canvas");
  var LEFT = 120, LANE = 30;
  function draw() {
    var realtime = document.getElementById("realtime").checked;
    var zoom = +document.getElementById("zoom").value;
    var width = Math.max(600, (document.getElementById("timeline").clientWidth - LEFT - 90)) * zoom;
    var times = [];
    data.bars.forEach(function (b) { times.push(b.start); if (b.end !== null) times.push(b.end); });
    data.sync.forEach(function (p) { times.push(p.time); });
    data.windows.forEach(function (w) { times.push(w[0], w[1]); });
    times.sort(function (a, b) { return a - b; });
    var uniq = times.filter(function (t, i) { return i === 0 || t !== times[i - 1]; });
    var last = uniq.length ? uniq[uniq.length - 1] : 1;
    var rank = {};
    uniq.forEach(function (t, i) { rank[t] = i; });
    var steps = Math.max(1, uniq.length - 1);
    function x(t) { return LEFT + (realtime ? t / (last || 1) : rank[t] / steps) * width; }
    var end = x(last) + 70;
    canvas.innerHTML = "";
    var lanes = [], laneOf = {};
    function lane(group, thread) {
      var k = group + "\\u0000" + thread;
      if (!(k in laneOf)) { laneOf[k] = lanes.length; lanes.push([group, thread]); }
      return laneOf[k];
    }
    data.bars.forEach(function (b) { lane(b.group, b.thread); });
    data.sync.forEach(function (p) { lane("", p.thread); });
    lanes.forEach(function (l, i) {
      var div = document.createElement("div");
      div.className = "lane"; div.style.top = (i * LANE) + "px"; div.style.width = end + "px";
      var name = document.createElement("div");
      name.className = "lane-name"; name.textContent = (l[0] ? l[0] + " / " : "") + l[1];
      name.title = name.textContent; div.appendChild(name); canvas.appendChild(div);
    });
    canvas.style.height = (lanes.length * LANE) + "px"; canvas.style.width = end + "px";
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
      div.style.left = x(b.start) + "px";
      div.style.width = Math.max(3, right - x(b.start)) + "px";
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
  }
  document.getElementById("realtime").addEventListener("change", draw);
  document.getElementById("zoom").addEventListener("input", draw);
  draw();
})();
</script>
</body></html>
"""
