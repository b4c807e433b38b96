"""Screens as SVG snapshots (pytest-textual-snapshot), over the deterministic demo store.

Regenerate after an intended change with `pytest tests/test_snapshots.py --snapshot-update`
and look at the SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests import uikit
from tests.uikit import make_app, settle, start

Compare = Callable[..., bool]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    uikit.demo()
    yield from uikit.isolate(monkeypatch, tmp_path)


def steps(*keys: str, query: str | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Settle the app with the fixed statuses, press `keys`; with `query`, enter it in the bar that opened."""

    async def run(pilot: Pilot[Any]) -> None:
        await start(pilot)
        if keys:
            await pilot.press(*keys)
        if query is not None:
            pilot.app.query_one("#query", Input).insert_text_at_cursor(query)
            await pilot.press("enter")
        await settle(pilot)

    return run


def test_main_view(snap_compare: Compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=steps())


def test_small_terminal_hides_the_sidebar(snap_compare: Compare) -> None:
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps())


def test_search_highlights_matches(snap_compare: Compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=steps("slash", query="heartbeat"))


def test_filter_by_level(snap_compare: Compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=steps("f", query="level:warn"))


def test_a_pod_tab_selected(snap_compare: Compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=steps("7"))


def test_light_theme(snap_compare: Compare) -> None:
    assert snap_compare(make_app(theme="logview-light"), terminal_size=(120, 40), run_before=steps())


def test_help_screen(snap_compare: Compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=steps("question_mark"))
