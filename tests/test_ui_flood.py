"""The app under a flood: the store takes every row at once, the pane at most every `FLOOD_FRAME`.

A pane that takes rows while following draws every row in view anew, and a
key pressed meanwhile waits for that; so a flood reaches the pane a few
times a second, never losing a row, while a trickle still shows at once.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widget import Widget
from textual.widgets import Static

from logview.model import LogEvent
from logview.ui import app as app_module
from logview.ui.app import FLOOD_FRAME, FLOOD_ROWS
from tests import uikit
from tests.uikit import LAST, RUNPOD, at, make_app, make_store, settle, start

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    uikit.demo()
    yield from uikit.isolate(monkeypatch, tmp_path)


def later(n: int, start: int = 0) -> list[LogEvent]:
    """n RunPod events after everything in the demo, numbered from `start`."""
    return [
        LogEvent(RUNPOD, "runpod", f"flood line {i}", at(LAST - uikit.T0 + 1 + i / 1000))
        for i in range(start, start + n)
    ]


def shown(app: app_module.LogviewApp) -> list[str]:
    store = app.store
    return [store.plain[r - store.first] for r in app.pane.lines.rows if not store.is_marker(r)]


async def test_a_trickle_reaches_the_pane_at_once() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        for k in range(3):
            app.ingest(later(FLOOD_ROWS - 1, start=k * FLOOD_ROWS))
            assert app.pane.lines.end == app.store.end  # no wait, however recent the last rows


async def test_a_flood_reaches_the_pane_paced_and_whole() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = len(app.pane.lines)
        app.ingest(later(500))  # the first batch after a quiet spell: at once
        assert len(app.pane.lines) == before + 500
        shown_at = time.monotonic()
        for k in range(1, 5):
            app.ingest(later(500, start=k * 500))
        assert len(app.pane.lines) == before + 500, "a flood waits for its frame"
        assert app.store.end > app.pane.lines.end
        while app.pane.lines.end < app.store.end:
            assert time.monotonic() - shown_at < 5 * FLOOD_FRAME, "the waiting rows never came"
            await pilot.pause(0.01)
        assert time.monotonic() - shown_at >= FLOOD_FRAME * 0.9
        await settle(pilot)
        assert shown(app)[-2500:] == [f"flood line {i}" for i in range(2500)]
        assert app.pane.follow and app.pane.scroll_y == app.pane.max_scroll_y
        assert "flood line 2499" in uikit.pane_text(app)[-1]


async def test_eviction_reaches_the_pane_at_once_even_mid_flood() -> None:
    store = make_store(max_lines=len(uikit.demo().events) + 1000)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        app.ingest(later(500))
        app.ingest(later(400, start=500))  # waits for its frame
        assert app.pane.lines.end < store.end
        first = store.first
        app.ingest(later(500, start=900))  # past the cap: the oldest rows go
        assert store.first > first
        assert app.pane.lines.end == store.end
        assert min(app.pane.lines.rows) >= store.first
        assert len(app.pane.lines) <= len(store)


async def test_streaming_keeps_the_start_up_objects_out_of_full_collections_and_spaces_them_until_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The collector's full passes skip what the app was built from (gc.freeze), and
    come `FULL_GC_SPACING` times further apart, while it streams."""
    frozen: list[int] = []
    spacing: list[int] = []
    before = gc.get_threshold()

    async def main(self: app_module.LogviewApp) -> None:
        frozen.append(gc.get_freeze_count())
        spacing.append(gc.get_threshold()[2])

    monkeypatch.setattr(app_module.LogviewApp, "_stream_main", main)
    app = make_app(stream=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.workers.wait_for_complete()
    assert frozen and frozen[0] > 0
    assert spacing == [before[2] * app_module.FULL_GC_SPACING]
    assert gc.get_freeze_count() == 0  # the app is gone: nothing of it stays frozen
    assert gc.get_threshold() == before


async def test_keys_and_new_rows_while_streaming_never_lay_the_screen_out_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pausing, resuming, and "N new lines" gaining digits change the status line's
    text, not its size: a relayout repaints every widget, and under a flood each
    key waited for one."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        asked: list[str] = []
        refresh = Widget.refresh

        def spy(self: Widget, *regions: Any, layout: bool = False, **kw: Any) -> Widget:
            if layout:
                asked.append(type(self).__name__)
            return refresh(self, *regions, layout=layout, **kw)

        monkeypatch.setattr(Widget, "refresh", spy)
        for k, n in enumerate((1, 9, 90, 900, 9000)):
            await pilot.press("k")  # pauses following
            app.ingest(later(n, start=k * 10_000))  # 1, 10, 100, ... new lines below
            app.refresh_chrome()
            await pilot.pause()
            assert f"{app.pane.new_lines:,} new lines" in status_text(app)
            await pilot.press("F")  # follows again
            await pilot.pause()
            assert status_text(app).endswith("● follow")
        await pilot.pause(FLOOD_FRAME)
        assert asked == []


def status_text(app: app_module.LogviewApp) -> str:
    return str(app.query_one("#statusline", Static).render())
