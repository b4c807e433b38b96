"""Memory stays bounded under an endless flood, and what was dropped is counted and said.

The real Streamer reads simulated sources whose whole history exists at
once (so they deliver as fast as the adapters decode) into a store capped
far below the flood; after every write the store must be within its cap,
`evicted` must equal exactly the rows that went in and are no longer
there, and what is kept must be the newest rows, in order. The live app
under the same flood must say how many of the oldest lines it dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Static

from logview.config import Settings
from logview.model import LogEvent, SourceStatus
from logview.sim.server import SimParams, Simulator
from logview.store import LogStore, marker_text
from logview.streaming import Streamer
from logview.ui.app import LogviewApp

CAP = 1_000
FLOOD = 12_000
"""Records per source: twelve times the cap, from each of two sources."""


@pytest.fixture
def flood(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, list[Any]]]:
    """RunPod and Feldera with FLOOD records each already in the past: they arrive at full speed."""
    rate = 2_000.0
    params = SimParams(seed=3, rate=rate, t0=time.time() - FLOOD / rate - 1, total=FLOOD)
    with Simulator(params) as sim:
        sim.feldera.end_after = FLOOD
        sim.feldera.capacity_bytes = 100_000_000  # the whole flood stays replayable: no gap, every line arrives
        for k, v in sim.demo_env().items():
            monkeypatch.setenv(k, v)
        specs = [s for s in sim.demo_specs() if s.provider in ("runpod", "feldera")]
        specs = [
            s.model_copy(update={"since": sim.runpod.record(0).ts}) if s.provider == "runpod" else s for s in specs
        ]
        yield sim, specs


@pytest.mark.timeout(60)
async def test_a_flood_far_past_max_lines_keeps_the_store_within_its_cap_and_counts_every_eviction(
    flood: tuple[Simulator, list[Any]],
) -> None:
    _, specs = flood
    store = LogStore(max_lines=CAP)
    added: list[str] = []
    """Every row's message in the order it went in (what the store must keep the tail of)."""
    largest = 0
    events = 0
    streamer = Streamer(specs)
    async for batch in streamer.batches():
        for item in batch:
            if isinstance(item, LogEvent):
                store.extend([item])
                added.append(item.message)
                events += 1
            elif isinstance(item, SourceStatus) and (text := marker_text(item)):
                store.add_marker(item, text)
                added.append(text)
            largest = max(largest, len(store))
            assert len(store) <= CAP
            assert store.evicted == len(added) - len(store) == store.first
        if events >= 2 * FLOOD:
            await streamer.close()
    assert events == 2 * FLOOD
    assert largest == CAP  # it filled up to the cap, never past it
    assert store.evicted == len(added) - len(store) > 20 * CAP
    assert store.message == added[store.first :]  # the newest rows, in order, nothing else
    assert store.counts == {s.name: FLOOD for s in specs}  # received, evicted or not


@pytest.mark.timeout(60)
async def test_the_live_app_under_a_flood_stays_within_max_lines_and_says_how_many_it_dropped(
    flood: tuple[Simulator, list[Any]],
) -> None:
    _, specs = flood
    app = LogviewApp(specs, Settings(max_lines=CAP))
    largest = 0
    async with app.run_test(size=(120, 30)) as pilot:
        deadline = time.monotonic() + 40
        while sum(app.store.counts.values()) < 2 * FLOOD:
            assert time.monotonic() < deadline, f"the flood did not arrive: {app.store.counts}"
            largest = max(largest, len(app.store))
            await pilot.pause(0.02)
        largest = max(largest, len(app.store))
        store = app.store
        assert largest <= CAP
        assert store.evicted == store.first > 20 * CAP
        assert len(app.pane.lines) <= len(store)
        deadline = time.monotonic() + 10  # the status line refreshes twice a second, later on a loaded machine
        while f"({store.evicted:,} oldest dropped)" not in (
            status := str(app.query_one("#statusline", Static).render())
        ):
            assert time.monotonic() < deadline, status
            await pilot.pause(0.1)
