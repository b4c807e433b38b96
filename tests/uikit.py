"""Deterministic material for the UI tests: a store, fixed statuses, a fixed clock.

The events come from the real stack: the simulator of all five APIs with a
fixed `t0` and a finite `total`, read by the real Streamer and providers until
every source has delivered everything it will. That happens once per test
process (about two seconds); each test gets a fresh `LogStore` filled from it
in one canonical order (time, then source, then arrival), so rows, colours and
screens are the same on every run and every machine. Statuses are injected
with fixed timestamps, and the app's clock is fixed too.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from logview.model import LogEvent, SourceStatus, State
from logview.sim.server import SimParams, Simulator
from logview.store import LogStore
from logview.streaming import Streamer
from logview.ui.app import LogviewApp

T0 = 1_780_000_000.0
"""Epoch seconds of record 0 (2026-05-28 20:26:40 UTC): in the past, so every record exists at once."""
RATE = 10.0
TOTAL = 60
"""Records per source."""
LAST = T0 + (TOTAL - 1) / RATE
NOW = datetime.fromtimestamp(LAST + 30, UTC)
"""The app's clock: half a minute after the last record."""

RUNPOD, FAL, FELDERA, CHRONOVERSE, GOLDRUSH = (
    "sdxl-worker",
    "flux-dev",
    "fraud-detection",
    "nightly-etl",
    "blocks-to-postgres",
)


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """UTC local time (the pane shows local times) and an empty config home (no user themes)."""
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("LOGVIEW_CONFIG", raising=False)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def at(seconds: float) -> datetime:
    """A moment `seconds` after record 0."""
    return datetime.fromtimestamp(T0 + seconds, UTC)


@dataclass(frozen=True)
class Demo:
    specs: list[Any]
    events: tuple[LogEvent, ...]
    pods: dict[str, tuple[str, ...]]
    """Pods per source, in order of first appearance."""


@functools.cache
def demo() -> Demo:
    """Everything the five simulated sources deliver (computed once per process)."""
    result: list[Demo] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(_capture()))
        except BaseException as e:  # handed to the caller's thread
            error.append(e)

    # Its own thread and loop: the caller may be inside a running event loop.
    t = threading.Thread(target=run, name="uikit-capture")
    t.start()
    t.join()
    if error:
        raise error[0]
    return result[0]


async def _capture() -> Demo:
    params = SimParams(seed=7, rate=RATE, total=TOTAL, t0=T0, backlog=0)
    with Simulator(params) as sim:
        saved = {k: os.environ.get(k) for k in sim.demo_env()}
        os.environ.update(sim.demo_env())
        try:
            specs = [
                # fal's server starts 24 hours back by default; our records are older
                s.model_copy(update={"start": datetime.fromtimestamp(T0 - 1, UTC).isoformat()})
                if s.provider == "fal"
                else s
                for s in sim.demo_specs()
            ]
            events = await _drain(specs)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    order = {s.name: n for n, s in enumerate(specs)}
    events.sort(key=lambda e: (e.ts, order[e.source]))  # stable: arrival order within a source
    pods: dict[str, dict[str, None]] = {}
    for e in events:
        if e.pod is not None:
            pods.setdefault(e.source, {})[e.pod] = None
    return Demo(specs, tuple(events), {s: tuple(p) for s, p in pods.items()})


async def _drain(specs: list[Any]) -> list[LogEvent]:
    """Stream until every source has delivered all it will (nothing new for a second)."""
    streamer = Streamer(specs, batch_interval=0.02)
    events: list[LogEvent] = []
    ended: set[str] = set()

    async def pump() -> None:
        async for batch in streamer.batches(forever=True):
            for item in batch:
                if isinstance(item, LogEvent):
                    events.append(item)
                elif item.state is State.ENDED:
                    ended.add(item.source)

    task = asyncio.create_task(pump())
    deadline = time.monotonic() + 20
    seen, quiet_since = -1, time.monotonic()
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if len(events) != seen:
                seen, quiet_since = len(events), time.monotonic()
                continue
            runpod = sum(e.source == RUNPOD for e in events)
            sources = {e.source for e in events}
            if (
                runpod == TOTAL
                and CHRONOVERSE in ended
                and len(sources) == len(specs)
                and time.monotonic() - quiet_since > 1.0
            ):
                return events
        raise RuntimeError(
            f"the simulated sources did not deliver everything in time: {sorted({e.source for e in events})}"
        )
    finally:
        await streamer.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def make_store(events: Iterable[LogEvent] | None = None, max_lines: int = 1_000_000) -> LogStore:
    """A fresh store holding the demo events (sources interned in config order)."""
    d = demo()
    store = LogStore(max_lines)
    for spec in d.specs:
        store.source_index(spec.name, spec.provider)
    store.extend(d.events if events is None else events)
    return store


def statuses() -> list[SourceStatus]:
    """A settled picture: four sources live, Chronoverse's job ended, GoldRush's pods known."""
    d = demo()
    out = [SourceStatus(s.name, State.LIVE, "live", ts=at(0)) for s in d.specs if s.name != CHRONOVERSE]
    out += [SourceStatus(GOLDRUSH, State.POD_NEW, f"new pod {p}", pod=p, ts=at(0)) for p in d.pods.get(GOLDRUSH, ())]
    out.append(SourceStatus(CHRONOVERSE, State.ENDED, "the stream has ended", ts=at(TOTAL / RATE)))
    return out


def make_app(store: LogStore | None = None, **kw: Any) -> LogviewApp:
    """The app over a prefilled store, not streaming, with the fixed clock."""
    kw.setdefault("stream", False)
    return LogviewApp(demo().specs, store=store if store is not None else make_store(), clock=lambda: NOW, **kw)


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until the view recompute (a thread worker) has landed and the screen is drawn."""
    app = pilot.app
    assert isinstance(app, LogviewApp)
    for _ in range(500):
        await pilot.pause()
        if app._view_busy is None:
            break
        await pilot.pause(0.01)
    else:
        raise AssertionError("the view never finished recomputing")
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def start(pilot: Pilot[Any], extra: Iterable[SourceStatus] = ()) -> LogviewApp:
    """Inject the fixed statuses (plus `extra`) and wait for a settled screen."""
    app = pilot.app
    assert isinstance(app, LogviewApp)
    app.ingest([*statuses(), *extra])  # a recompute still running picks these rows up too
    app.refresh_chrome()
    await settle(pilot)
    return app


def pane_text(app: LogviewApp) -> list[str]:
    """The pane's visible lines as plain text."""
    pane = app.pane
    return [pane.render_line(y).text for y in range(pane.scrollable_content_region.height)]


def shown_events(app: LogviewApp) -> Iterator[LogEvent]:
    """The events (not markers) the pane holds, in display order."""
    store = app.store
    for row in app.pane.lines.rows:
        if not store.is_marker(row):
            yield store.event(row)
