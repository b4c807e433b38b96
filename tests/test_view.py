"""What the pane shows: which rows qualify (ViewSpec), in what order and on how many lines (Layout)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import pytest

from logview.model import Level, LogEvent, SourceStatus, State
from logview.query import compile_query
from logview.store import LogStore
from logview.view import Layout, ViewSpec, line_count

T = datetime(2026, 5, 28, 12, 0, 0, tzinfo=UTC)


def ev(second: float, message: str = "line", source: str = "api", **kw: Any) -> LogEvent:
    return LogEvent(source=source, provider="runpod", message=message, ts=T + timedelta(seconds=second), **kw)


MAX = 10_000


def laid_out(store: LogStore, rows: list[int], width: int | None = None) -> Layout:
    return Layout.build(store, rows, width, MAX)


def mixed_store() -> tuple[LogStore, dict[str, int]]:
    """Two sources, two pods, levels, and markers with and without a pod; row ids by name."""
    store = LogStore()
    ids: dict[str, int] = {}

    def put(name: str, event: LogEvent) -> None:
        (ids[name],) = store.extend([event])

    put("api-info", ev(0, "started", level=Level.INFO))
    put("api-error", ev(1, "boom", level=Level.ERROR))
    put("api-nolevel", ev(2, "plain"))
    put("gr-a-warn", ev(3, "slow", source="gr", pod="pod-a", level=Level.WARN))
    put("gr-b-debug", ev(4, "tick", source="gr", pod="pod-b", level=Level.DEBUG))
    put("gr-nopod", ev(5, "pipeline status", source="gr", level=Level.INFO))
    ids["api-reconnect"] = store.add_marker(
        SourceStatus("api", State.LIVE, "reconnected", attempt=2, ts=T), "reconnected"
    )
    ids["gr-reconnect"] = store.add_marker(
        SourceStatus("gr", State.LIVE, "reconnected", attempt=1, ts=T), "reconnected"
    )
    ids["gr-b-gone"] = store.add_marker(SourceStatus("gr", State.POD_GONE, "gone", pod="pod-b", ts=T), "pod-b is gone")
    return store, ids


def names(ids: dict[str, int], rows: list[int]) -> set[str]:
    by_row = {r: n for n, r in ids.items()}
    return {by_row[r] for r in rows}


# --- ViewSpec ---------------------------------------------------------------------


def test_an_empty_spec_keeps_every_row_in_order() -> None:
    store, _ = mixed_store()
    assert list(ViewSpec().select(store)) == list(store.rows())


def test_a_source_set_keeps_its_events_and_markers_only() -> None:
    store, ids = mixed_store()
    rows = ViewSpec(sources=frozenset({"api"})).select(store)
    assert names(ids, rows) == {"api-info", "api-error", "api-nolevel", "api-reconnect"}


def test_a_pod_keeps_its_events_and_the_pod_less_markers_of_shown_sources() -> None:
    store, ids = mixed_store()
    rows = ViewSpec(sources=frozenset({"gr"}), pod="pod-a").select(store)
    assert names(ids, rows) == {"gr-a-warn", "gr-reconnect"}


def test_a_pod_drops_pod_less_events() -> None:
    store, ids = mixed_store()
    assert "gr-nopod" not in names(ids, ViewSpec(pod="pod-a").select(store))


def test_a_pod_drops_markers_of_another_pod_and_of_sources_without_it() -> None:
    store, ids = mixed_store()
    assert names(ids, ViewSpec(pod="pod-a").select(store)) == {"gr-a-warn", "gr-reconnect"}


def test_a_pod_tab_agrees_with_the_pod_query_on_markers() -> None:
    store, _ = mixed_store()
    for pod in ("pod-a", "pod-b"):
        assert ViewSpec(pod=pod).select(store) == compile_query(f"pod:{pod}").filter(store), pod


def test_a_minimum_level_drops_lower_and_level_less_events_but_keeps_markers() -> None:
    store, ids = mixed_store()
    rows = ViewSpec(min_level=Level.WARN).select(store)
    assert names(ids, rows) == {"api-error", "gr-a-warn", "api-reconnect", "gr-reconnect", "gr-b-gone"}


def test_source_pod_and_level_must_all_hold() -> None:
    store, ids = mixed_store()
    rows = ViewSpec(sources=frozenset({"gr"}), pod="pod-b", min_level=Level.INFO).select(store)
    assert names(ids, rows) == {"gr-reconnect", "gr-b-gone"}


def test_the_filter_query_applies_after_the_columns() -> None:
    store, ids = mixed_store()
    rows = ViewSpec(sources=frozenset({"api"}), query=compile_query("boom")).select(store)
    assert names(ids, rows) == {"api-error", "api-reconnect"}


def test_select_looks_only_at_the_rows_it_is_given() -> None:
    store, ids = mixed_store()
    some = [ids["api-info"], ids["gr-a-warn"], ids["gr-b-debug"]]
    assert ViewSpec(min_level=Level.INFO).select(store, some) == [ids["api-info"], ids["gr-a-warn"]]


def test_select_skips_evicted_rows() -> None:
    store = LogStore(max_lines=1000)
    store.extend(ev(i, f"line {i}", level=Level.INFO) for i in range(1100))
    assert store.first > 0
    for spec in (ViewSpec(), ViewSpec(min_level=Level.INFO), ViewSpec(sources=frozenset({"api"}))):
        assert list(spec.select(store, range(0, store.end))) == list(store.rows()), spec
    assert ViewSpec().select(store, [0, 1, store.first]) == [store.first]


# --- line_count ---------------------------------------------------------------------


def test_line_count_without_wrap_counts_newlines() -> None:
    assert line_count("a\nb\n\nc", None) == 4


def test_line_count_wraps_each_line_at_the_width() -> None:
    assert line_count("x" * 25 + "\n" + "y" * 10, 10) == 3 + 1


def test_line_count_ignores_colour_codes() -> None:
    assert line_count("\x1b[31m" + "x" * 10 + "\x1b[0m", 10) == 1


def test_an_empty_line_still_takes_a_line() -> None:
    assert line_count("", 10) == 1


# --- Layout ---------------------------------------------------------------------------


def test_layout_orders_rows_by_time_then_arrival() -> None:
    store = LogStore()
    rows = list(store.extend([ev(2, "b"), ev(1, "a"), ev(2, "c"), ev(0, "z")]))
    layout = laid_out(store, rows)
    assert [store.message[r] for r in layout.rows] == ["z", "a", "b", "c"]


def test_layout_offsets_follow_row_heights() -> None:
    store = LogStore()
    rows = list(store.extend([ev(0, "one"), ev(1, "two\nlines"), ev(2, "three\nlines\nhere")]))
    layout = laid_out(store, rows)
    assert list(layout.offsets) == [0, 1, 3, 6]
    assert layout.total_lines == 6


def test_locate_maps_a_screen_line_to_a_row_and_a_line_within_it() -> None:
    store = LogStore()
    rows = list(store.extend([ev(0, "one"), ev(1, "two\nlines"), ev(2, "three\nlines\nhere")]))
    layout = laid_out(store, rows)
    assert [layout.locate(n) for n in range(6)] == [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2)]


def test_adding_newer_rows_appends_and_reports_where_the_change_starts() -> None:
    store = LogStore()
    layout = laid_out(store, list(store.extend([ev(0), ev(1)])))
    new = list(store.extend([ev(2), ev(3)]))
    assert layout.add(store, new) == 2
    assert list(layout.rows[2:]) == new
    assert layout.total_lines == 4


def test_a_late_row_is_merged_in_by_time() -> None:
    store = LogStore()
    layout = laid_out(store, list(store.extend([ev(0, "a"), ev(2, "c"), ev(3, "d")])))
    late = list(store.extend([ev(1, "b")]))
    assert layout.add(store, late) == 1
    assert [store.message[r] for r in layout.rows] == ["a", "b", "c", "d"]
    assert list(layout.offsets) == [0, 1, 2, 3, 4]


def test_a_late_row_lands_after_rows_of_the_same_time() -> None:
    store = LogStore()
    layout = laid_out(store, list(store.extend([ev(0, "a"), ev(1, "b1"), ev(2, "c")])))
    layout.add(store, list(store.extend([ev(1, "b2")])))
    assert [store.message[r] for r in layout.rows] == ["a", "b1", "b2", "c"]


def test_drop_before_forgets_evicted_rows_and_says_how_many_lines_went() -> None:
    store = LogStore()
    rows = list(store.extend([ev(0, "x\ny"), ev(1, "z"), ev(2, "w")]))
    layout = laid_out(store, rows)
    assert layout.drop_before(rows[1]) == 2
    assert list(layout.rows) == rows[1:]
    assert list(layout.offsets) == [0, 1, 2]


def test_drop_before_with_nothing_evicted_changes_nothing() -> None:
    store = LogStore()
    rows = list(store.extend([ev(0), ev(1)]))
    layout = laid_out(store, rows)
    assert layout.drop_before(rows[0]) == 0
    assert list(layout.rows) == rows


def test_index_of_finds_a_row_anywhere_and_none_when_absent() -> None:
    store = LogStore()
    rows = list(store.extend(ev(i) for i in range(5000)))
    layout = laid_out(store, rows[::2])
    assert layout.index_of(rows[10], store) == 5
    assert layout.index_of(rows[4998], store) == 2499
    assert layout.index_of(rows[11], store) is None


def test_adding_batches_in_any_time_order_equals_building_the_layout_at_once() -> None:
    rng = random.Random(5)
    store = LogStore()
    layout = Layout(None, MAX)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for batch in range(60):
        late = rng.random() < 0.4  # a polled source's lines land before what is shown
        events = []
        for k in range(rng.randint(1, 40)):
            when = base + timedelta(seconds=batch * 10 + k - (rng.randint(5, 200) if late else 0))
            text = "\n".join(f"part {j}" for j in range(rng.randint(1, 3)))  # rows of 1-3 lines
            events.append(LogEvent("s", "runpod", text, when if rng.random() < 0.9 else base))
        added = store.extend(events)
        layout.add(store, added)
    whole = laid_out(store, list(store.rows()))
    assert list(layout.rows) == list(whole.rows)
    assert list(layout.ts) == list(whole.ts)
    assert list(layout.offsets) == list(whole.offsets)


def varied_store(seed: int, n: int, max_lines: int = 1_000_000, late: float = 0.05) -> tuple[LogStore, random.Random]:
    """Rows of every shape a layout meets: empty, short, long, multi-line,
    coloured, past the characters laid out, markers; some (`late`: the
    chance) with a time before rows already there."""
    rng = random.Random(seed)
    store = LogStore(max_lines=max_lines)
    add_varied(store, rng, n, late)
    return store, rng


def add_varied(store: LogStore, rng: random.Random, n: int, late: float) -> range:
    texts = ["", "short", "x" * 23, "y" * 130, "two\nlines", "a\n" + "b" * 45 + "\n\nc", "z" * 80 + "\n" + "w" * 3]
    texts.append("\x1b[31m" + "r" * 20 + "\x1b[0m")
    start = store.end
    events = []
    for k in range(n):
        when = store.end + k - (rng.randint(5, 60) if rng.random() < late else 0)
        events.append(ev(when, rng.choice(texts)))
    store.extend(events)
    if rng.random() < 0.3:
        store.add_marker(SourceStatus("api", State.GAP, "gap", ts=T + timedelta(seconds=store.end)), "gap: " + "m" * 30)
    return range(max(start, store.first), store.end)


def heights(store: LogStore, rows: Iterable[int], width: int | None, max_chars: int = MAX) -> list[int]:
    """Each row's screen lines by `line_count`: what the layout must agree with."""
    return [
        1 if width is not None and store.is_marker(r) else line_count(store.plain[r - store.first][:max_chars], width)
        for r in rows
    ]


@pytest.mark.parametrize("width", [None, 7, 40])
def test_row_heights_are_those_line_count_gives(width: int | None) -> None:
    store, _ = varied_store(1, 400)
    layout = Layout.build(store, store.rows(), width, 100)
    assert list(layout.offsets) == list(accumulate(heights(store, layout.rows, width, 100), initial=0))
    assert layout.total_lines == layout.offsets[-1]
    longest = min(100, max(map(len, store.plain)))
    assert layout.max_width == (longest if width is None else 0)


@pytest.mark.parametrize("width", [None, 9])
def test_locate_and_index_of_agree_with_the_offsets(width: int | None) -> None:
    store, _ = varied_store(2, 300)
    layout = Layout.build(store, store.rows(), width, MAX)
    offsets = list(layout.offsets)
    for line in range(layout.total_lines):
        i, within = layout.locate(line)
        assert offsets[i] <= line < offsets[i + 1] and within == line - offsets[i], line
    for i, row in enumerate(layout.rows):
        assert layout.index_of(row, store) == i


@pytest.mark.parametrize(("width", "late"), [(None, 0.0), (None, 0.05), (11, 0.05)])
def test_adds_and_evictions_keep_the_layout_equal_to_one_built_from_scratch(width: int | None, late: float) -> None:
    store, rng = varied_store(3, 100, max_lines=400, late=late)
    layout = Layout.build(store, store.rows(), width, MAX)
    for _ in range(40):
        new = add_varied(store, rng, rng.randint(1, 30), late)
        layout.drop_before(store.first)
        layout.add(store, new)
        whole = Layout.build(store, store.rows(), width, MAX)
        assert list(layout.rows) == list(whole.rows)
        assert list(layout.ts) == list(whole.ts)
        assert list(layout.offsets) == list(whole.offsets)
        assert all(layout.index_of(r, store) == i for i, r in enumerate(whole.rows))
    assert store.evicted > 0


def test_drop_before_finds_evicted_rows_after_a_late_row_was_merged_in() -> None:
    store = LogStore()
    layout = Layout.build(store, store.extend([ev(0, "a\nb"), ev(5, "c")]), None, MAX)
    layout.add(store, store.extend([ev(1, "late")]))  # shown before the row that came earlier
    assert [store.message[r] for r in layout.rows] == ["a\nb", "late", "c"]
    assert layout.drop_before(1) == 2
    assert [store.message[r] for r in layout.rows] == ["late", "c"]
    assert list(layout.offsets) == [0, 1, 2]


def test_rewrapped_equals_building_at_that_width() -> None:
    store, _ = varied_store(4, 300)
    layout = Layout.build(store, store.rows(), None, MAX)
    for width in (13, None):
        again = layout.rewrapped(store, width)
        whole = Layout.build(store, store.rows(), width, MAX)
        assert list(again.rows) == list(whole.rows)
        assert (list(again.offsets), again.max_width) == (list(whole.offsets), whole.max_width)
