"""A filter through the UI over 1,000,000 rows: time until the pane shows it, and the worst stall.

The app runs headless (`App.run_test`, 120x40) over a pre-filled store, no
streaming. A filter is applied the way the query bar applies one
(`filter_q = ...; recompute_view()`); the time runs until the result is in
the pane (`_view_busy` cleared) and until the next frame after that. A
ticker task in the app's event loop sleeps 10 ms at a time and records how
late it wakes: the worst lateness while filtering is the longest the UI
could not react to a key. Baselines: the same query run directly with
`Query.filter` on the same store (no UI), and the ticker's worst lateness
while the app sits idle.

Clearing the filter is timed twice: right after the filters, and after
ARRIVING new rows came in while a filter was shown (the store is full, so
as many old rows are evicted): the layout kept from before the filter must
catch up with both.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.common import Figure, log, median
from benchmarks.corpus import SOURCES, build_store, events
from benchmarks.filter import QUERIES

TICK = 0.01
ARRIVING = 10_000


def corpus_specs() -> list[Any]:
    """Specs naming the corpus's sources (never contacted: the app runs without streaming)."""
    from logview.config import Settings
    from logview.sim.server import SimParams, Simulator

    sim = Simulator(SimParams())
    by_provider = {t["provider"]: t for t in (p.demo_source("http://127.0.0.1:9") for p in sim.providers)}
    tables = [{**by_provider[s.provider], "name": s.name} for s in SOURCES]
    return list(Settings.model_validate({"sources": tables}).sources)


class Ticker:
    """Sleeps TICK in a loop on the app's event loop; keeps (wake time, lateness)."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            self.samples.append((now, now - last - TICK))
            last = now

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def worst(self, t0: float, t1: float) -> float:
        """Worst lateness of the wake-ups from t0 until the first wake-up after t1."""
        worst = 0.0
        for t, late in self.samples:
            if t >= t0:
                worst = max(worst, late)
                if t > t1:
                    break
        return worst


async def _until(cond: Any, timeout: float, step: float = 0.002) -> float:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError("the UI did not get there in time")
        await asyncio.sleep(step)
    return time.perf_counter()


async def _next_frame(frames: list[float], after: float) -> float:
    """The time of the first frame at or after `after` (waiting for it if need be)."""
    await _until(lambda: bool(frames) and frames[-1] >= after, 30)
    return next(t for t in frames if t >= after)


def _frame_recorder(app: Any) -> list[float]:
    """Times of the frames the app's compositor produces (headless: rendered, not written)."""
    frames: list[float] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        original(screen, renderable)
        if renderable is not None:
            frames.append(time.perf_counter())

    app._display = display
    return frames


async def _first_view(store: Any) -> float:
    """Seconds from starting the app until a frame shows every row of the store."""
    from logview.ui.app import LogviewApp

    app = LogviewApp(corpus_specs(), stream=False, store=store)
    frames = _frame_recorder(app)
    start = time.perf_counter()
    async with app.run_test(size=(120, 40)) as pilot:
        ready = await _until(lambda: app._view_busy is None and len(app.pane.lines) == len(store), 300)
        elapsed = await _next_frame(frames, ready) - start
        await pilot.exit(0)
    return elapsed


async def _apply(app: Any, frames: list[float], ticker: Ticker, text: str) -> dict[str, Any]:
    """Set the filter (or clear it: "") as the query bar does; the time until
    the pane shows it and until the next frame, and the worst stall meanwhile."""
    from logview.query import compile_query

    q = compile_query(text) if text else None
    t0 = time.perf_counter()
    app.filter_q = q
    app.recompute_view()
    t_shown = await _until(lambda: app._view_busy is None, 300)
    t_frame = await _next_frame(frames, t_shown)
    await asyncio.sleep(0.05)
    stall = ticker.worst(t0, t_frame)
    return {"shown": t_shown - t0, "frame": t_frame - t0, "stall": stall, "rows": len(app.pane.lines)}


async def _measure(store: Any, queries: list[tuple[str, str]]) -> dict[str, Any]:
    from logview.ui.app import LogviewApp

    app = LogviewApp(corpus_specs(), stream=False, store=store)
    frames = _frame_recorder(app)
    out: dict[str, Any] = {"queries": {}}
    fresh = list(events(ARRIVING, seed=12))  # made now: newer than every row in the store
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(lambda: app._view_busy is None and len(app.pane.lines) == len(store), 300)
        await pilot.pause()
        ticker = Ticker()
        ticker.start()
        t0 = time.perf_counter()
        await asyncio.sleep(1.0)
        out["idle_stall"] = ticker.worst(t0, time.perf_counter())
        for label, text in queries:
            r = out["queries"][label] = await _apply(app, frames, ticker, text)
            log(f"ui_filter {label}: shown {r['shown']:.3f}s, worst stall {r['stall'] * 1000:.0f} ms")
            await asyncio.sleep(0.3)
        await _apply(app, frames, ticker, queries[0][1])
        for a in range(0, ARRIVING, 1000):  # in batches, as the stream hands them over
            app.ingest(fresh[a : a + 1000])
            await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        r = out["arrived"] = await _apply(app, frames, ticker, "")
        log(f"ui_filter clear after {ARRIVING:,} new rows: shown {r['shown']:.3f}s, stall {r['stall'] * 1000:.0f} ms")
        ticker.stop()
        await pilot.exit(0)
    return out


def run(quick: bool) -> list[Figure]:
    from logview.query import compile_query

    n = 200_000 if quick else 1_000_000
    log(f"ui_filter: building a {n:,}-row store")
    store = build_store(n)
    queries = [(label, text) for label, text, _, _ in QUERIES] + [("clear the filter", "")]
    direct: dict[str, float] = {}
    for label, text in queries:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            if text:
                compile_query(text).filter(store)
            else:
                list(store.rows())
            times.append(time.perf_counter() - t0)
        direct[label] = median(times)
    from logview.store import LogStore

    first = asyncio.run(asyncio.wait_for(_first_view(store), 600))
    empty = asyncio.run(asyncio.wait_for(_first_view(LogStore()), 600))
    log(f"ui_filter: first view {first:.2f}s, empty store {empty:.2f}s")
    res = asyncio.run(asyncio.wait_for(_measure(store, queries), 900))
    figures = [
        Figure(
            "ui_filter",
            f"app start to a frame showing all {n:,} rows",
            first,
            "s",
            empty,
            "the same app with an empty store",
            note="headless, 120x40",
        )
    ]
    worst = 0.0
    arrived = f"clear the filter after {ARRIVING:,} new rows came in"
    measured = [(label, text, res["queries"][label]) for label, text in queries] + [(arrived, "", res["arrived"])]
    for label, text, r in measured:
        worst = max(worst, r["stall"])
        figures.append(
            Figure(
                "ui_filter",
                f"{label}{f': `{text}`' if text else ''}, to shown",
                r["shown"],
                "s",
                direct[label] if text else direct["clear the filter"],
                "Query.filter alone" if text else "list(store.rows())",
                note=f"{r['rows']:,} rows; next frame at {r['frame'] * 1000:,.0f} ms; worst stall {r['stall'] * 1000:,.0f} ms",
                extra=r,
            )
        )
    figures.append(
        Figure(
            "ui_filter",
            "worst event-loop stall while filtering",
            worst,
            "s",
            res["idle_stall"],
            "the same ticker, app idle for 1 s",
            note=f"{TICK * 1000:.0f} ms ticker in the app's loop",
        )
    )
    return figures
