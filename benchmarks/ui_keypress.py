"""Keys under a flood: latency from a key to the frame that shows it, and bytes written to the terminal.

The flood is five sources at R lines/s each: 2,500 lines/s from each of the
four streaming APIs and what GoldRush's polled tails can carry (it polls
a bounded tail per pod, so it caps below R), over 10,000 lines/s in all.

In process (headless): the app streams from a simulator in another process;
key events go straight into the app's queue (as a terminal driver puts
them) and the latency runs to the first frame the compositor produces with
the key's effect (`App._display`), plus the time the action itself ran.
Two kinds of key: a cheap one (`k` moves the cursor up, `F` follows again)
and `t` (time format), which lays out every row held again.

On a real terminal: `logview --demo --rate R` on a pty (120x40,
xterm-256color), its embedded simulator in the same process as in real
use. Bytes per second the app writes while the flood runs, against the raw
bytes per second of the log lines themselves (measured by a `Streamer`
client of the same flood from a separate simulator); and key to screen:
`?` written to the pty until the help screen's text comes back out of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import PYTHON, Figure, PtyProcess, log, median, percentile
from benchmarks.simproc import sim_process, specs_from

RATE = 2500.0
"""Lines per second per source (five sources; GoldRush delivers less, so 4 x 2,500 + GoldRush > 10,000)."""
HELP_MARKER = b"Search and filter language"


# --- in process ------------------------------------------------------------------------


async def _headless(app: Any, cheap: int, heavy: int, warmup: float) -> dict[str, Any]:
    """Press keys in a running app; `app` streams (the flood) or holds a pre-filled store (idle)."""
    from textual import events

    pending: list[tuple[float, Callable[[], bool]]] = []
    seen: list[float] = []
    frames = 0
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        nonlocal frames
        original(screen, renderable)
        if renderable is None:
            return
        frames += 1
        if pending and pending[0][1]():
            seen.append(time.perf_counter() - pending[0][0])
            pending.clear()

    app._display = display
    handled: list[float] = []

    async def press(key: str, done: Callable[[], bool]) -> tuple[float, float] | None:
        seen.clear()
        handled.clear()
        t0 = time.perf_counter()
        pending.append((t0, done))
        assert app._driver is not None
        app._driver.send_message(events.Key(key, key))
        deadline = t0 + 15
        while not seen and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        pending.clear()
        if not seen:
            return None
        return (handled[0] - t0 if handled else float("nan")), seen[0]

    out: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)):
        pane = app.pane
        for obj, name in ((pane, "action_cursor"), (app, "action_follow"), (app, "action_cycle_time")):
            _record_calls(obj, name, handled)
        await asyncio.sleep(warmup)
        rows0, t_rows0 = app.store.end, time.perf_counter()
        frames0 = frames
        rng = random.Random(5)
        cheap_lat: list[float] = []
        cheap_act: list[float] = []
        timeouts = 0
        for i in range(cheap):
            key, done = ("k", lambda: not pane.follow) if i % 2 == 0 else ("F", lambda: pane.follow)
            r = await press(key, done)
            if r is None:
                timeouts += 1
            else:
                cheap_act.append(r[0])
                cheap_lat.append(r[1])
            await asyncio.sleep(rng.uniform(0.02, 0.06))
        if not pane.follow:
            await press("F", lambda: pane.follow)
        heavy_lat: list[float] = []
        heavy_act: list[float] = []
        rows_at_heavy = app.store.end
        modes = ("absolute", "relative", "off")
        for _ in range(heavy):
            want = modes[(modes.index(pane.time_mode) + 1) % 3]
            r = await press("t", _equals(pane, "time_mode", want))
            if r is None:
                timeouts += 1
            else:
                heavy_act.append(r[0])
                heavy_lat.append(r[1])
            await asyncio.sleep(rng.uniform(0.05, 0.15))
        elapsed = time.perf_counter() - t_rows0
        out.update(
            cheap=cheap_lat,
            cheap_action=cheap_act,
            heavy=heavy_lat,
            heavy_action=heavy_act,
            timeouts=timeouts,
            ingest_rate=(app.store.end - rows0) / elapsed,
            fps=(frames - frames0) / elapsed,
            rows_at_heavy=rows_at_heavy,
            rows_end=len(app.store),
        )
        app.exit(0)
    return out


def _equals(obj: Any, attr: str, value: object) -> Callable[[], bool]:
    return lambda: bool(getattr(obj, attr) == value)


def _record_calls(obj: Any, name: str, sink: list[float]) -> None:
    """Wrap an action so the time it finished is recorded (same signature, for Textual's dispatch)."""
    original = getattr(obj, name)
    if name == "action_cursor":

        def cursor(delta: int) -> None:
            original(delta)
            sink.append(time.perf_counter())

        setattr(obj, name, cursor)
    else:

        def plain() -> None:
            original()
            sink.append(time.perf_counter())

        setattr(obj, name, plain)


# --- on a pty ------------------------------------------------------------------------------


async def _flood_bytes(info: dict[str, Any], warmup: float, window: float) -> tuple[float, float]:
    """Bytes/s and lines/s of the log lines themselves, as a Streamer client receives them."""
    from logview.model import LogEvent
    from logview.streaming import Streamer

    streamer = Streamer(specs_from(info))
    nbytes = lines = 0
    start = time.perf_counter()
    t0 = start + warmup
    t1 = t0 + window
    async with contextlib.aclosing(streamer.batches(forever=True)) as batches:
        async for batch in batches:
            now = time.perf_counter()
            if now >= t1:
                break
            if now < t0:
                continue
            for ev in batch:
                if isinstance(ev, LogEvent):
                    nbytes += len(ev.message.encode()) + 1
                    lines += 1
    await streamer.close()
    return nbytes / window, lines / window


def _pty(rate: float, warmup: float, window: float, presses: int) -> dict[str, Any]:
    argv = [PYTHON, "-m", "logview.cli", "--demo", "--rate", str(rate)]
    out: dict[str, Any] = {}
    with PtyProcess(argv) as term:
        time.sleep(warmup)
        if not term.alive():
            raise RuntimeError("logview --demo exited under the pty")
        if window:
            t0 = time.perf_counter()
            time.sleep(window)
            out["bytes_per_s"] = term.bytes_between(t0, t0 + window) / window
            out["bytes_per_s_by_second"] = [term.bytes_between(t0 + k, t0 + k + 1) for k in range(int(window))]
        lat: list[float] = []
        timeouts = 0
        for _ in range(presses):
            sent = term.send(b"?")
            shown = term.wait_for(lambda data: HELP_MARKER in data, sent, timeout=10)
            if shown is None:
                timeouts += 1
            else:
                lat.append(shown - sent)
            time.sleep(0.3)
            term.send(b"?")  # the help screen closes on ? too
            time.sleep(0.7)
        out["latency"] = lat
        out["timeouts"] = timeouts
    return out


def run(quick: bool) -> list[Figure]:
    from benchmarks.corpus import build_store
    from benchmarks.ui_filter import corpus_specs
    from logview.ui.app import LogviewApp

    cheap, heavy, presses = (20, 6, 5) if quick else (200, 30, 30)
    warmup, window = (2.0, 3.0) if quick else (5.0, 10.0)
    with sim_process("live", "--rate", str(RATE), "--backlog", str(int(RATE))) as info:
        log("ui_keypress: headless app under the flood")
        app = LogviewApp(specs_from(info), stream=True)
        flood = asyncio.run(asyncio.wait_for(_headless(app, cheap, heavy, warmup), 900))
    log(f"ui_keypress: headless app idle, {flood['rows_end']:,} rows")
    app = LogviewApp(corpus_specs(), stream=False, store=build_store(flood["rows_end"]))
    idle = asyncio.run(asyncio.wait_for(_headless(app, cheap, heavy, 1.0), 900))
    with sim_process("live", "--rate", str(RATE)) as info:
        log("ui_keypress: the flood's own bytes")
        raw_bps, raw_lps = asyncio.run(asyncio.wait_for(_flood_bytes(info, 2.0, window), 120))
    log("ui_keypress: logview --demo on a pty, flood")
    # --demo starts with up to 2,000 lines of history per source: let them drain before measuring
    pty = _pty(RATE, warmup * 3, window, presses)
    log("ui_keypress: logview --demo on a pty, 1 line/s per source")
    pty_idle = _pty(1.0, 3.0, 0.0, presses)
    timeouts = flood["timeouts"] + idle["timeouts"] + pty["timeouts"] + pty_idle["timeouts"]
    flood_note = f"flood {raw_lps:,.0f} lines/s, app took {flood['ingest_rate']:,.0f}/s at {flood['fps']:.0f} frames/s"
    same = "same key, same rows, no flood"
    return [
        Figure(
            "ui_keypress",
            f"cheap key (k/F) to frame, p50 of {len(flood['cheap'])}",
            median(flood["cheap"]),
            "s",
            median(idle["cheap"]),
            same,
            note=f"headless; {flood_note}" + (f"; {timeouts} keys timed out" if timeouts else ""),
            extra={"flood": flood, "idle": idle},
        ),
        Figure(
            "ui_keypress",
            "cheap key (k/F) to frame, p95",
            percentile(flood["cheap"], 95),
            "s",
            percentile(idle["cheap"], 95),
            same,
            note=f"action itself p50 {median(flood['cheap_action']) * 1000:,.1f} ms",
        ),
        Figure(
            "ui_keypress",
            f"`t` (relayout) to frame, p50 of {len(flood['heavy'])}",
            median(flood["heavy"]),
            "s",
            median(idle["heavy"]),
            same,
            note=f"p95 {percentile(flood['heavy'], 95) * 1000:,.0f} ms (idle {percentile(idle['heavy'], 95) * 1000:,.0f} ms); "
            f"{flood['rows_at_heavy']:,}-{flood['rows_end']:,} rows",
        ),
        Figure(
            "ui_keypress",
            "bytes/s written to the terminal (pty)",
            pty["bytes_per_s"],
            "B/s",
            raw_bps,
            "bytes/s of the log lines in the flood",
            note=f"flood {raw_lps:,.0f} lines/s; 120x40 xterm-256color",
            extra={"pty": pty, "raw_lines_per_s": raw_lps},
        ),
        Figure(
            "ui_keypress",
            f"`?` to help on screen (pty), p50 of {len(pty['latency'])}",
            median(pty["latency"]),
            "s",
            median(pty_idle["latency"]),
            "same on --demo at 1 line/s per source",
            note=f"p95 {percentile(pty['latency'], 95) * 1000:,.0f} ms (quiet {percentile(pty_idle['latency'], 95) * 1000:,.0f} ms)",
            extra={"pty_idle": pty_idle},
        ),
    ]
