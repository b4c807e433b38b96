"""Clearing a filter: the pane goes back to the layout it showed before the
filter (kept up to date meanwhile) instead of laying out every row again.

Each test checks what the user sees against a layout built from scratch, so a
kept layout that missed rows, kept evicted ones or lost the time order fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from logview.model import LogEvent
from logview.query import compile_query
from logview.ui.app import LogviewApp
from logview.ui.logpane import MAX_DISPLAY
from logview.view import Layout
from tests import uikit
from tests.uikit import LAST, RUNPOD, at, make_app, make_store, settle, start

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    uikit.demo()
    yield from uikit.isolate(monkeypatch, tmp_path)


def later(n: int, message: str, seconds: float = LAST - uikit.T0 + 1) -> list[LogEvent]:
    return [LogEvent(source=RUNPOD, provider="runpod", message=message, ts=at(seconds + i)) for i in range(n)]


async def apply_filter(pilot: Pilot[Any], text: str) -> None:
    await pilot.press("f")
    pilot.app.query_one("#query", Input).value = text
    await pilot.press("enter")
    await settle(pilot)


def from_scratch(app: LogviewApp) -> Layout:
    """The layout a full recompute of the current view gives."""
    store = app.store
    return Layout.build(store, app.view_spec().select(store), app.pane.message_width(), MAX_DISPLAY)


def shown(app: LogviewApp) -> list[str]:
    return [app.store.plain[r - app.store.first] for r in app.pane.lines.rows]


def assert_shows_from_scratch(app: LogviewApp) -> None:
    whole = from_scratch(app)
    lines = app.pane.lines
    assert list(lines.rows) == list(whole.rows)
    assert list(lines.offsets) == list(whole.offsets)
    assert lines.max_width == whole.max_width


async def test_clearing_a_filter_brings_back_the_layout_from_before_at_once() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = app.pane.lines
        await apply_filter(pilot, "level:error")
        assert len(app.pane.lines) < len(before)
        await pilot.press("escape")
        assert app._view_busy is None, "no recompute was started"
        assert app.pane.lines is before
        assert_shows_from_scratch(app)
        await settle(pilot)
        assert app.pane.scroll_y == app.pane.max_scroll_y  # still following


async def test_an_empty_filter_from_the_bar_clears_it_the_same_way() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = app.pane.lines
        await apply_filter(pilot, "heartbeat")
        await apply_filter(pilot, "")
        assert app.filter_q is None
        assert app.pane.lines is before


async def test_clearing_a_filter_keeps_the_cursor_on_its_row_and_screen_line() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        pane, store = app.pane, app.store
        runpod = store.sources.index(RUNPOD)
        rows = [r for r in pane.lines.rows if store.source[r - store.first] == runpod and not store.is_marker(r)]
        row = rows[len(rows) // 2]
        pane.jump_to_row(row)
        await settle(pilot)

        def screen_line() -> int:
            i = pane.cursor
            assert i is not None and pane.cursor_row == row
            y = pane.lines.offset(i) - int(pane.scroll_y)
            assert 0 <= y < pane.scrollable_content_region.height, "the cursor is on screen"
            return y

        screen_line()
        await apply_filter(pilot, f"source:{RUNPOD}")
        assert len(pane.lines) < len(uikit.demo().events)
        y = screen_line()
        await pilot.press("escape")
        await settle(pilot)
        assert screen_line() == y
        assert not pane.follow


async def test_rows_that_arrive_while_filtered_are_there_after_clearing_in_time_order() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await apply_filter(pilot, "heartbeat")
        app.ingest(later(3, "fresh line"))
        app.ingest(later(2, "late line", seconds=1.5))  # lands among the rows already shown
        app.ingest(later(2, "fresh heartbeat", seconds=LAST - uikit.T0 + 10))
        await settle(pilot)
        store = app.store
        assert all("heartbeat" in store.plain[r - store.first] for r in app.pane.lines.rows if not store.is_marker(r))
        await pilot.press("escape")
        await settle(pilot)
        assert_shows_from_scratch(app)
        texts = shown(app)
        assert texts.count("fresh line") == 3 and texts.count("late line") == 2 and texts.count("fresh heartbeat") == 2
        assert "fresh heartbeat" in uikit.pane_text(app)[-1]  # following: at the end


async def test_rows_evicted_while_filtered_are_gone_after_clearing() -> None:
    store = make_store(max_lines=len(uikit.demo().events) + 20)
    app = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        first = store.first
        await apply_filter(pilot, "level:warn")
        app.ingest(later(60, "fresh line"))
        await settle(pilot)
        assert store.first > first
        await pilot.press("escape")
        await settle(pilot)
        assert min(app.pane.lines.rows) >= store.first
        assert_shows_from_scratch(app)


async def test_clearing_while_another_filter_is_computed_shows_every_row_and_stays() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = app.pane.lines
        await apply_filter(pilot, "heartbeat")
        # all before the event loop runs again: the new filter's worker cannot have landed
        app.filter_q = compile_query("level:warn")
        app.recompute_view()
        app.ingest(later(3, "fresh line"))  # not shown yet: the worker catches up with it
        app.action_clear_query()
        assert app.pane.lines is before
        assert_shows_from_scratch(app)
        await settle(pilot)
        await pilot.pause(0.1)
        assert app.filter_q is None and app.pane.lines is before, "the filter's late result is dropped"
        assert shown(app).count("fresh line") == 3


async def test_wrapping_while_filtered_is_kept_after_clearing() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        app.ingest(later(1, "x" * 500))
        await settle(pilot)
        await apply_filter(pilot, "level:warn")
        await pilot.press("w")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.pane.lines.width == app.pane.message_width() is not None
        assert_shows_from_scratch(app)
        assert app.pane.lines.total_lines > len(app.pane.lines)  # the long line takes several


async def test_a_filter_replacing_a_filter_still_clears_to_the_unfiltered_layout() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = app.pane.lines
        await apply_filter(pilot, "heartbeat")
        await apply_filter(pilot, "level:warn")
        assert app.filter_q is not None and app.filter_q.text == "level:warn"
        app.ingest(later(2, "fresh line"))
        await pilot.press("escape")
        assert app.pane.lines is before
        assert_shows_from_scratch(app)


async def test_another_level_while_filtered_is_not_cleared_to_the_old_layout() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = app.pane.lines
        await apply_filter(pilot, "heartbeat")
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.pane.lines is not before
        assert app.min_level is not None
        assert_shows_from_scratch(app)
