"""The TUI driven with a Pilot, one behaviour per test.

Most tests run the app over a prefilled, deterministic store (see uikit)
without streaming; the last ones follow the live simulator.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from textual.pilot import Pilot
from textual.widgets import Input, Label, Static, Tab, Tabs

from logview.model import Level, LogEvent, SourceStatus, State
from logview.sim.server import Simulator
from logview.text import sanitize, strip_sgr
from logview.ui.app import LogviewApp
from logview.ui.logpane import pod_label
from logview.ui.querybar import QueryBar
from logview.ui.screens import KEYS, DetailScreen, HelpScreen
from logview.ui.sidebar import SourceTree
from logview.ui.themes import DEFAULT_THEME
from tests import uikit
from tests.uikit import (
    CHRONOVERSE,
    FAL,
    GOLDRUSH,
    LAST,
    NOW,
    RUNPOD,
    at,
    make_app,
    pane_text,
    settle,
    shown_events,
    start,
)

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    uikit.demo()  # the one-off capture, outside any test's timing
    yield from uikit.isolate(monkeypatch, tmp_path)


def later(n: int, message: str = "fresh line {i}") -> list[LogEvent]:
    """n RunPod events after everything in the demo."""
    return [
        LogEvent(source=RUNPOD, provider="runpod", message=message.format(i=i), ts=at(LAST - uikit.T0 + 1 + i))
        for i in range(n)
    ]


def status_text(app: LogviewApp) -> str:
    return str(app.query_one("#statusline", Static).render())


async def type_query(pilot: Pilot[Any], opener: str, text: str, *, keys: bool = False) -> None:
    """Open the bar, enter `text` (key by key with `keys`, else pasted: faster) and press Enter."""
    await pilot.press(opener)
    if keys:
        await pilot.press(*text)
    else:
        pilot.app.query_one("#query", Input).insert_text_at_cursor(text)
    await pilot.press("enter")
    await settle(pilot)


def events_where(pred: Callable[[LogEvent], bool]) -> list[LogEvent]:
    return [e for e in uikit.demo().events if pred(e)]


def plain(e: LogEvent) -> str:
    return strip_sgr(e.message)


async def wait_until(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the live app")
        await pilot.pause(0.05)


# --- follow --------------------------------------------------------------------------


async def test_new_rows_keep_a_following_pane_at_the_bottom() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        app.ingest(later(5))
        await settle(pilot)
        pane = app.pane
        assert pane.follow
        assert pane.scroll_y == pane.max_scroll_y > 0
        assert "fresh line 4" in pane_text(app)[-1]


async def test_a_following_pane_stays_at_the_bottom_when_the_terminal_shrinks() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await pilot.resize_terminal(120, 24)
        await settle(pilot)
        pane = app.pane
        assert pane.scroll_y == pane.max_scroll_y > 0
        assert pane_text(app)[-1].startswith(f"── {CHRONOVERSE}: the stream has ended")


@pytest.mark.parametrize("key", ["k", "pageup"])
async def test_moving_up_pauses_follow_and_counts_new_lines(key: str) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await pilot.press(key)
        assert not app.pane.follow
        top = app.pane.scroll_y
        app.ingest(later(3))
        await settle(pilot)
        assert app.pane.scroll_y == top
        await wait_until(
            pilot, lambda: "3 new lines" in status_text(app), timeout=1.5
        )  # the status line ticks twice a second
        assert "paused" in status_text(app)


@pytest.mark.parametrize("key", ["end", "F"])
async def test_end_and_F_resume_following(key: str) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await pilot.press("k", "k")
        app.ingest(later(3))
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        pane = app.pane
        assert pane.follow
        assert pane.new_lines == 0
        assert pane.scroll_y == pane.max_scroll_y
        assert "fresh line 2" in pane_text(app)[-1]
        assert "follow" in status_text(app) and "new lines" not in status_text(app)


# --- filter ----------------------------------------------------------------------------

SINCE = NOW - timedelta(seconds=33)

FILTERS: list[tuple[str, Callable[[LogEvent], bool]]] = [
    ("model", lambda e: "model" in plain(e).lower()),
    ("Model", lambda e: "Model" in plain(e)),
    ('"model weights"', lambda e: "model weights" in plain(e).lower()),
    ("/req_0000[0-2]\\d/", lambda e: re.search(r"req_0000[0-2]\d", plain(e)) is not None),
    ("-heartbeat", lambda e: "heartbeat" not in plain(e).lower()),
    ("level:warn", lambda e: e.level is not None and e.level >= Level.WARN),
    ("level:=warn", lambda e: e.level is Level.WARN),
    ("source:flux", lambda e: e.source == FAL),
    ("pod:s69ds", lambda e: (e.pod or "").endswith("s69ds")),
    ("stream:stderr", lambda e: e.stream == "stderr"),
    ("since:33s", lambda e: e.ts >= SINCE),
    ("since:20:26:43 until:20:26:45", lambda e: at(3) <= e.ts < at(5)),
]


@pytest.mark.parametrize(("query", "pred"), FILTERS, ids=[q for q, _ in FILTERS])
async def test_a_filter_keeps_only_matching_rows(query: str, pred: Callable[[LogEvent], bool]) -> None:
    expected = events_where(pred)
    assert 0 < len(expected) < len(uikit.demo().events), "the case must keep some rows and drop others"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await type_query(pilot, "f", query)
        shown = list(shown_events(app))
        assert all(pred(e) for e in shown)
        assert len(shown) == len(expected)
        assert "filter" in status_text(app) and query in status_text(app)


async def test_a_clock_time_in_a_filter_is_read_in_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Etc/GMT-2")  # two hours east of UTC, as the pane shows times
    time.tzset()
    expected = events_where(lambda e: e.ts >= at(3))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await type_query(pilot, "f", "since:22:26:43")
        assert len(list(shown_events(app))) == len(expected)


async def test_escape_clears_the_filter() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await type_query(pilot, "f", "level:error")
        assert len(list(shown_events(app))) < len(uikit.demo().events)
        await pilot.press("escape")
        await settle(pilot)
        assert len(list(shown_events(app))) == len(uikit.demo().events)
        assert app.filter_q is None


# --- search ----------------------------------------------------------------------------


async def test_a_search_keeps_every_row_and_counts_its_matches() -> None:
    expected = events_where(lambda e: "heartbeat" in plain(e).lower())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = len(app.pane.lines)
        await type_query(pilot, "slash", "heartbeat")
        await pilot.pause(0.1)
        assert len(app.pane.lines) == before
        assert f"{len(expected)} of {len(expected)}" in status_text(app)


async def test_n_and_N_move_the_cursor_between_matches() -> None:
    n = len(events_where(lambda e: "heartbeat" in plain(e).lower()))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await type_query(pilot, "slash", "heartbeat")
        await pilot.pause(0.1)
        seen = []
        for key, position in (("n", 1), ("n", 2), ("N", 1), ("N", n)):
            await pilot.press(key)
            row = app.pane.cursor_row
            assert row is not None
            assert "heartbeat" in app.store.message[row - app.store.first].lower()
            assert f"{position} of {n}" in status_text(app)
            seen.append(row)
        assert seen[0] < seen[1] and seen[2] == seen[0] and seen[3] > seen[1]


async def test_n_follows_the_screen_order_when_a_late_match_lands_above() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await type_query(pilot, "slash", "heartbeat")
        app.ingest([LogEvent(source=RUNPOD, provider="runpod", message="late heartbeat", ts=at(0.05))])
        await settle(pilot)
        await pilot.press("g")
        positions: list[int] = []
        for _ in range(3):
            await pilot.press("n")
            assert app.pane.cursor is not None
            positions.append(app.pane.cursor)
        first = app.pane.lines.rows[positions[0]]
        assert app.store.message[first - app.store.first] == "late heartbeat"
        assert positions == sorted(positions) and len(set(positions)) == 3


async def test_an_invalid_regex_shows_an_error_in_the_bar_and_applies_nothing() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        before = list(app.pane.lines.rows)
        await pilot.press("f", *"/[a/", "enter")
        await settle(pilot)
        bar = app.query_one(QueryBar)
        assert bar.has_class("open")
        assert "invalid regular expression" in str(bar.query_one("#error", Label).render())
        assert app.filter_q is None
        assert list(app.pane.lines.rows) == before


async def test_up_and_down_in_the_bar_walk_the_query_history() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await type_query(pilot, "f", "gpu", keys=True)
        await type_query(pilot, "f", "-ok", keys=True)
        await pilot.press("slash")
        field = app.query_one("#query", Input)
        values = []
        for key in ("up", "up", "down", "down"):
            await pilot.press(key)
            values.append(field.value)
        assert values == ["-ok", "gpu", "-ok", ""]


# --- keys that change the view ------------------------------------------------------------


async def test_l_cycles_the_minimum_level() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        counts = []
        for _ in range(5):
            await pilot.press("l")
            await settle(pilot)
            counts.append((app.min_level, len(list(shown_events(app)))))
        expected = [
            (lv, len(events_where(lambda e, lv=lv: lv is None or (e.level is not None and e.level >= lv))))  # type: ignore[misc]
            for lv in (Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR, None)
        ]
        assert counts == expected


async def test_t_cycles_the_time_column() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        app.pane.follow = False
        app.pane.cursor = 0
        app.pane.scroll_home(animate=False, immediate=True)
        await settle(pilot)
        first = app.store.event(app.pane.lines.rows[0])
        lines = [pane_text(app)[0]]
        for _ in range(3):
            await pilot.press("t")
            await settle(pilot)
            lines.append(pane_text(app)[0])
        assert lines[0].startswith("20:26:40.000 ")
        assert re.match(r"^ *\d+[smhd]\S* ", lines[1])
        assert not re.match(r"^\s*\d", lines[2])  # no time column
        assert (
            lines[2].lstrip().startswith(first.source[:5])
        )  # the origin (maybe shortened to keep the pod) comes first
        assert lines[3] == lines[0]


async def test_w_wraps_a_long_line_onto_more_screen_lines() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        long = "x" * 500
        app.ingest(later(1, long))
        await settle(pilot)
        pane = app.pane
        last = len(pane.lines) - 1
        assert pane.lines.offsets[last + 1] - pane.lines.offsets[last] == 1
        await pilot.press("w")
        await settle(pilot)
        width = pane.message_width()
        assert width is not None
        assert pane.lines.offsets[last + 1] - pane.lines.offsets[last] == -(-500 // width) > 1
        assert pane_text(app)[-1].rstrip().endswith("x")


async def test_s_toggles_the_sidebar() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        sidebar = app.query_one(SourceTree)
        shown = [sidebar.display]
        for _ in range(2):
            await pilot.press("s")
            await settle(pilot)
            shown.append(sidebar.display)
        assert shown == [True, False, True]


async def test_the_sidebar_starts_hidden_below_100_columns() -> None:
    app = make_app()
    async with app.run_test(size=(99, 30)) as pilot:
        await start(pilot)
        assert not app.query_one(SourceTree).display


# --- pod tabs --------------------------------------------------------------------------------


def tab_labels(app: LogviewApp) -> list[str]:
    return [str(t.label) for t in app.query_one("#pods", Tabs).query(Tab)]


async def test_every_pod_gets_a_tab() -> None:
    pods = {p for ps in uikit.demo().pods.values() for p in ps}
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        labels = tab_labels(app)
        assert labels[0] == "All"
        assert sorted(labels[1:]) == sorted(pod_label(p) for p in pods)


@pytest.mark.parametrize("keys", [("3",), ("]", "]"), ("4", "[")])
async def test_choosing_a_pod_tab_shows_only_that_pods_rows(keys: tuple[str, ...]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await pilot.press(*keys)
        await settle(pilot)
        tabs = app.query_one("#pods", Tabs)
        assert tabs.active_tab is not None and str(tabs.active_tab.label) == tab_labels(app)[2]
        pod = app.pod
        assert pod is not None and pod_label(pod) == tab_labels(app)[2]
        shown = list(shown_events(app))
        assert [e.pod for e in shown] == [e.pod for e in events_where(lambda e: e.pod == pod)]


async def test_markers_on_a_pod_tab_concern_that_pods_source() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        pod = uikit.demo().pods[GOLDRUSH][0]
        tab_id = app._pod_tab_ids[pod]
        app.query_one("#pods", Tabs).active = tab_id
        await settle(pilot)
        store = app.store
        marker_sources = {
            store.sources[store.source[r - store.first]] for r in app.pane.lines.rows if store.is_marker(r)
        }
        assert marker_sources <= {GOLDRUSH}


async def test_a_gone_pod_is_marked_on_its_tab() -> None:
    pod = uikit.demo().pods[GOLDRUSH][0]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, [SourceStatus(GOLDRUSH, State.POD_GONE, f"pod {pod} is gone", pod=pod, ts=at(7))])
        assert f"{pod_label(pod)} ✝" in tab_labels(app)
        assert any("is gone" in line for line in pane_text(app))


# --- sidebar ------------------------------------------------------------------------------------


def source_label(app: LogviewApp, name: str) -> str:
    return str(app.query_one(SourceTree)._source_nodes[name].label)


async def choose(pilot: Pilot[Any], app: LogviewApp, name: str, key: str = "enter") -> None:
    tree = app.query_one(SourceTree)
    tree.focus()
    tree.move_cursor(tree._source_nodes[name])
    await pilot.pause()
    await pilot.press(key)
    await settle(pilot)


async def test_a_failed_source_shows_a_cross_and_its_reason_when_selected() -> None:
    reason = "wrong API key: set LOGVIEW_DEMO_FAL_KEY to a valid fal key"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, [SourceStatus(FAL, State.FAILED, reason, ts=at(7))])
        assert source_label(app, FAL).startswith("✖ ")
        await choose(pilot, app, FAL)
        status = status_text(app)  # as drawn: cut with an ellipsis where the line is too short for all of it
        assert f"{FAL}: wrong API key: set LOGVIEW_DEMO_FAL_KEY" in status and status.endswith("● follow")
        assert any(reason in str(n.message) for n in app._notifications)  # the whole reason


async def test_selecting_a_source_shows_only_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await choose(pilot, app, CHRONOVERSE)
        shown = list(shown_events(app))
        assert len(shown) == len(events_where(lambda e: e.source == CHRONOVERSE))
        assert {e.source for e in shown} == {CHRONOVERSE}


async def test_space_excludes_a_source_from_all() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await choose(pilot, app, RUNPOD, key="space")
        shown = list(shown_events(app))
        assert len(shown) == len(events_where(lambda e: e.source != RUNPOD))
        assert "(hidden)" in source_label(app, RUNPOD)
        await pilot.press("space")
        await settle(pilot)
        assert len(list(shown_events(app))) == len(uikit.demo().events)


# --- themes --------------------------------------------------------------------------------------


def error_row_colour(app: LogviewApp) -> str:
    """The colour of the level label of the last ERROR row, as rendered."""
    store, pane = app.store, app.pane
    row = next(r for r in reversed(pane.lines.rows) if store.level[r - store.first] == Level.ERROR)
    strip = pane._render_row(row)[0]
    seg = next(s for s in strip if s.text.startswith("ERROR"))
    assert isinstance(seg.style, Style) and seg.style.color is not None
    triplet = seg.style.color.get_truecolor()
    return f"#{triplet.red:02x}{triplet.green:02x}{triplet.blue:02x}"


async def test_switching_theme_recolours_the_levels() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        dark = error_row_colour(app)
        app.theme = "logview-light"
        await settle(pilot)
        assert dark == app.get_theme("logview-dark").variables["level-error"]  # type: ignore[union-attr]
        assert error_row_colour(app) == "#c00000"


async def test_a_broken_theme_file_is_reported_not_fatal(tmp_path: Path) -> None:
    themes = tmp_path / "config" / "logview" / "themes"
    themes.mkdir(parents=True)
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-colour"\n')
    (themes / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\n')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        messages = [str(n.message) for n in app._notifications]
        assert any("broken.toml" in m and "primary" in m for m in messages)
        assert "mine" in app.available_themes
        assert app.theme == DEFAULT_THEME


async def test_an_unknown_theme_falls_back_with_a_notification() -> None:
    app = make_app(theme="nope")
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        assert app.theme == DEFAULT_THEME
        assert any("nope" in str(n.message) for n in app._notifications)


# --- details and copy -----------------------------------------------------------------------------


def json_row(app: LogviewApp) -> int:
    store = app.store
    return next(r for r in app.pane.lines.rows if store.message[r - store.first].startswith('{"level"'))


async def test_enter_shows_every_field_and_pretty_json() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        row = json_row(app)
        app.pane.jump_to_row(row)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        text = str(app.screen.query(Static).first().render())
        ev = app.store.event(row)
        assert f"source    {ev.source} ({ev.provider})" in text
        assert f"pod       {ev.pod}" in text
        for key, value in ev.fields.items():
            assert f"{key:<9} {value}" in text
        assert '{\n  "level": "debug",\n  "msg": "job accepted",' in text
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


async def test_y_copies_the_focused_line_without_colours() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        store = app.store
        row = next(r for r in app.pane.lines.rows if "\x1b[" in store.message[r - store.first])
        app.pane.jump_to_row(row)
        await pilot.press("y")
        assert app.clipboard == strip_sgr(store.message[row - store.first])
        assert "\x1b" not in app.clipboard


async def test_y_in_the_details_copies_the_message() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        row = json_row(app)
        app.pane.jump_to_row(row)
        await pilot.press("enter", "y")
        assert app.clipboard == app.store.message[row - app.store.first]


async def test_the_help_keys_fit_without_wrapping() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        keys = app.screen.query(Static)[1]
        assert keys.size.height == len(KEYS.split("\n"))  # one screen line per line: nothing wrapped


# --- markers and terminal safety ----------------------------------------------------------------


async def test_a_reconnect_and_a_gap_put_markers_in_the_pane() -> None:
    app = make_app()
    reconnect = SourceStatus(RUNPOD, State.LIVE, "reconnected after 2 attempts, resumed", attempt=2, ts=at(20))
    gap = SourceStatus(GOLDRUSH, State.GAP, "lines between 20:26:50 and 20:26:55 UTC may be missing", ts=at(21))
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, [reconnect, gap])
        lines = [line.rstrip() for line in pane_text(app)]
        assert lines[-2] == f"── {RUNPOD}: reconnected after 2 attempts, resumed ──"
        assert lines[-1] == f"── {GOLDRUSH}: gap: lines between 20:26:50 and 20:26:55 UTC may be missing ──"


async def test_terminal_control_sequences_render_as_visible_stand_ins() -> None:
    app = make_app()
    raw = "title \x1b]0;pwned\x07 clear \x1b[2J bell \x07 done"
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        app.ingest(later(1, sanitize(raw)))  # what every provider does with log text
        await settle(pilot)
        line = pane_text(app)[-1]
        assert "title ␛]0;pwned␇ clear ␛[2J bell ␇ done" in line
        assert not set(line) & {"\x1b", "\x07"}


async def test_unsanitized_text_still_cannot_reach_the_terminal() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        app.ingest(later(1, "\x1b]0;pwned\x07 \x1b[2J \x1b[31mred\x1b[0m"))
        await settle(pilot)
        row = app.pane.lines.rows[-1]
        text = "".join(seg.text for strip in app.pane._render_row(row) for seg in strip)
        assert not any(c in text for c in "\x1b\x07")
        assert "red" in text


# --- live ------------------------------------------------------------------------------------------


async def test_live_pods_appear_as_tabs(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in sim.demo_env().items():
        monkeypatch.setenv(k, v)
    app = LogviewApp(sim.demo_specs())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(tab_labels(app)) > 4 and app.query_one("#pods").display)
        app.refresh_chrome()  # pods seen since the last tick get their tab now
        pods = {p for (s, p) in app.store.pod_counts if s in (GOLDRUSH, FAL)}
        labels = set(tab_labels(app))
        assert {pod_label(p) for p in pods} <= labels


async def test_live_sources_show_their_state_in_the_sidebar(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in sim.demo_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LOGVIEW_DEMO_RUNPOD_KEY", "rp_wrong_key")
    app = LogviewApp(sim.demo_specs())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: source_label(app, RUNPOD).startswith("✖") and source_label(app, GOLDRUSH).startswith("●")
        )
        assert app.states[RUNPOD].state is State.FAILED
        assert "LOGVIEW_DEMO_RUNPOD_KEY" in app.states[RUNPOD].message
        assert "rp_wrong_key" not in app.states[RUNPOD].message
        title = str(app.query_one("#title", Static).render())
        assert "1 failed" in title


@pytest.mark.parametrize("time_mode", ["absolute", "off"])
async def test_plain_rows_drawn_without_rich_match_rich_exactly(
    monkeypatch: pytest.MonkeyPatch, time_mode: str
) -> None:
    import logview.ui.logpane as logpane

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot)
        extra = [
            LogEvent("api", "runpod", "", at(1), Level.INFO),
            LogEvent("api", "runpod", "disk full", at(2), Level.ERROR, pod="worker-1"),
            LogEvent("api", "runpod", "ERROR disk full again", at(3), Level.FATAL),
            LogEvent("api", "runpod", "no level, wide ｗｉｄｅ text", at(4)),
        ]
        app.ingest(extra)
        await settle(pilot)
        pane = app.pane
        pane.time_mode = time_mode
        rows = list(app.store.rows())
        fast = [pane._render_row(r) for r in rows]
        monkeypatch.setattr(logpane, "_RICH_ONLY", True)
        rich = [pane._render_row(r) for r in rows]
        assert [[list(s) for s in row] for row in fast] == [[list(s) for s in row] for row in rich]
        assert [[s.cell_length for s in row] for row in fast] == [[s.cell_length for s in row] for row in rich]
