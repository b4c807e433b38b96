"""The LogStore: columns in, the same events out, bounded memory, stable row ids."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from logview.model import Level, LogEvent, SourceStatus, State
from logview.store import LogStore, marker_text

T = datetime(2026, 5, 28, 12, 0, 0, 123456, tzinfo=UTC)


def ev(i: int, source: str = "api", pod: str | None = None, **kw: Any) -> LogEvent:
    return LogEvent(source=source, provider="runpod", message=f"line {i}", ts=T + timedelta(seconds=i), pod=pod, **kw)


def fill(store: LogStore, n: int, start: int = 0) -> None:
    store.extend(ev(i) for i in range(start, start + n))


def test_every_field_of_an_event_round_trips() -> None:
    store = LogStore()
    original = LogEvent(
        source="sdxl",
        provider="runpod",
        message="CUDA out of memory\n  at line 2 \x1b[31mred\x1b[0m",
        ts=T,
        level=Level.ERROR,
        pod="worker_a1",
        stream="stderr",
        seq="2026-05-28T12:00:00Z/000000000042",
        fields={"app": "flux", "revision": "r1"},
    )
    (row,) = store.extend([original])
    back = store.event(row)
    assert (
        back.source,
        back.provider,
        back.message,
        back.ts,
        back.level,
        back.pod,
        back.stream,
        back.seq,
        back.fields,
    ) == (
        original.source,
        original.provider,
        original.message,
        original.ts,
        original.level,
        original.pod,
        original.stream,
        original.seq,
        original.fields,
    )


def test_empty_optional_fields_round_trip_as_none() -> None:
    store = LogStore()
    (row,) = store.extend([LogEvent(source="f", provider="file", message="x", ts=T, seq=7)])
    back = store.event(row)
    assert (back.level, back.pod, back.stream, back.seq, back.fields) == (None, None, None, 7, {})


def test_every_level_round_trips() -> None:
    store = LogStore()
    rows = store.extend(ev(i, level=lv) for i, lv in enumerate(Level))
    assert [store.event(r).level for r in rows] == list(Level)


def test_fields_of_a_rebuilt_event_are_a_copy() -> None:
    store = LogStore()
    (row,) = store.extend([ev(0, fields={"k": "v"})])
    store.event(row).fields["k"] = "changed"
    assert store.event(row).fields == {"k": "v"}


def test_sources_pods_and_streams_are_interned_once() -> None:
    store = LogStore()
    store.extend(
        [ev(0, "a", "p1", stream="stdout"), ev(1, "b", "p1", stream="stdout"), ev(2, "a", "p2", stream="stderr")]
    )
    assert store.sources == ["a", "b"]
    assert store.pods == [None, "p1", "p2"]
    assert store.streams == [None, "stdout", "stderr"]
    assert list(store.source) == [0, 1, 0]
    assert list(store.pod) == [1, 1, 2]


def test_a_source_first_seen_in_a_marker_keeps_its_provider_from_events() -> None:
    store = LogStore()
    store.add_marker(SourceStatus("api", State.POD_NEW, "new pod p1", pod="p1"), "new pod p1")
    (row,) = store.extend([ev(0)])
    assert store.event(row).provider == "runpod"


def test_row_ids_are_consecutive_and_returned_by_extend() -> None:
    store = LogStore()
    assert store.extend(ev(i) for i in range(3)) == range(0, 3)
    assert store.extend(ev(i) for i in range(3, 5)) == range(3, 5)
    assert (store.first, store.end, len(store)) == (0, 5, 5)


def test_the_store_never_holds_more_than_max_lines() -> None:
    store = LogStore(max_lines=1000)
    for start in range(0, 5000, 7):
        fill(store, 7, start)
        assert len(store) <= 1000


def test_eviction_happens_in_chunks_not_per_line() -> None:
    store = LogStore(max_lines=1000)
    fill(store, 1000)
    fill(store, 1)
    first_after_evicting = store.first
    fill(store, 1)
    assert first_after_evicting > 1
    assert store.first == first_after_evicting


def test_evicted_rows_are_counted() -> None:
    store = LogStore(max_lines=1000)
    fill(store, 3000)
    assert store.evicted == store.first == 3000 - len(store)
    assert store.evicted > 0


def test_row_ids_survive_eviction() -> None:
    store = LogStore(max_lines=1000)
    fill(store, 1000)
    fill(store, 1500, start=1000)
    assert 0 not in store
    assert store.first in store
    assert store.end - 1 in store
    for row in (store.first, store.first + 17, store.end - 1):
        assert store.event(row).message == f"line {row}"


def test_extend_larger_than_the_store_returns_only_rows_still_kept() -> None:
    store = LogStore(max_lines=1000)
    rows = store.extend(ev(i) for i in range(2500))
    assert rows.start >= store.first
    assert rows.stop == store.end
    assert store.event(rows.start).message == f"line {rows.start}"


def test_counts_include_evicted_events() -> None:
    store = LogStore(max_lines=1000)
    fill(store, 2500)
    store.extend([ev(0, "other")])
    assert store.counts == {"api": 2500, "other": 1}


def test_pod_counts_count_events_per_source_and_pod() -> None:
    store = LogStore()
    store.extend([ev(0, "a", "p1"), ev(1, "a", "p1"), ev(2, "a", "p2"), ev(3, "b", "p1"), ev(4, "a")])
    assert store.pod_counts == {("a", "p1"): 2, ("a", "p2"): 1, ("b", "p1"): 1}


def test_a_marker_is_a_row_where_it_happened() -> None:
    store = LogStore()
    fill(store, 2)
    status = SourceStatus("api", State.GAP, "up to 5 lines lost", ts=T)
    row = store.add_marker(status, "gap: up to 5 lines lost")
    fill(store, 1, start=2)
    assert row == 2
    assert [store.is_marker(r) for r in store.rows()] == [False, False, True, False]
    marker = store.event(row)
    assert (marker.message, marker.source, marker.ts, marker.fields) == (
        "gap: up to 5 lines lost",
        "api",
        T,
        {"state": "gap"},
    )


def test_markers_are_not_counted_as_events() -> None:
    store = LogStore()
    store.add_marker(SourceStatus("api", State.ENDED, "ended"), "ended")
    assert store.counts == {}


def test_source_rows_lists_events_and_markers_of_the_named_sources() -> None:
    store = LogStore()
    store.extend([ev(0, "a"), ev(1, "b")])
    store.add_marker(SourceStatus("a", State.ENDED, "ended"), "ended")
    store.extend([ev(2, "c"), ev(3, "a")])
    assert store.source_rows(["a"]) == [0, 2, 4]
    assert store.source_rows(["b", "c", "unknown"]) == [1, 3]


def test_source_rows_are_row_ids_after_eviction() -> None:
    store = LogStore(max_lines=1000)
    fill(store, 1000)
    store.extend(ev(i, "x" if i % 2 else "api") for i in range(1000, 2200))
    rows = store.source_rows(["x"])
    assert rows
    assert all(store.event(r).source == "x" for r in rows)
    assert rows[-1] == store.end - 1


def test_clear_empties_the_store_but_keeps_ids_growing() -> None:
    store = LogStore()
    fill(store, 5)
    store.clear()
    assert (len(store), store.first, store.end) == (0, 5, 5)
    assert store.extend([ev(5)]) == range(5, 6)


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (SourceStatus("a", State.GAP, "10 lines lost"), "gap: 10 lines lost"),
        (SourceStatus("a", State.GAP), "gap: lines may be missing here"),
        (SourceStatus("a", State.ENDED, "the stream has ended"), "the stream has ended"),
        (SourceStatus("a", State.FAILED, "wrong key"), "wrong key"),
        (SourceStatus("a", State.POD_GONE, "", pod="p"), "pod-gone"),
        (
            SourceStatus("a", State.LIVE, "reconnected after 1.2s, resumed", attempt=2),
            "reconnected after 1.2s, resumed",
        ),
        (SourceStatus("a", State.LIVE, "live"), None),
        (SourceStatus("a", State.CONNECTING, "connecting"), None),
        (SourceStatus("a", State.RECONNECTING, "cut; reconnecting in 1s", attempt=1, delay=1.0), None),
        (SourceStatus("a", State.INFO, "pipeline RUNNING"), None),
    ],
    ids=lambda v: v.state.value if isinstance(v, SourceStatus) else None,
)
def test_marker_text_marks_only_what_belongs_in_the_log(status: SourceStatus, text: str | None) -> None:
    assert marker_text(status) == text


def test_plain_column_is_the_message_without_colours_and_stays_aligned_through_eviction() -> None:
    from logview.text import strip_sgr

    store = LogStore(max_lines=1000)
    coloured = "\x1b[31mERROR\x1b[0m disk \x1b[1;33mfull\x1b[0m"
    sent: list[str] = []
    for i in range(3000):
        e = ev(i)
        if i % 3 == 0:
            e.message = coloured
        store.extend([e])
        sent.append(e.message)
        if i % 500 == 0:
            marker = "\x1b[2mgap\x1b[0m: lines may be missing"
            store.add_marker(SourceStatus("api", State.GAP, "gap"), marker)
            sent.append(marker)
    assert store.evicted > 0
    assert len(store.plain) == len(store.message) == len(store.colours) == len(store.seq) == len(store.fields)
    assert store.message == sent[store.evicted :]  # the colours come back exactly where they were
    assert store.plain == [strip_sgr(m) for m in store.message]
    layouts = {id(c) for c in store.colours if c is not None}
    assert len(layouts) == 2  # one shared layout per shape, not a string per row
    assert sum(c is None for c in store.colours) == sum("\x1b" not in m for m in store.message)


@pytest.mark.parametrize(
    "message",
    [
        "plain",
        "",
        "\x1b[31m",
        "\x1b[0m\x1b[1m\x1b[0m",
        "a\x1b[31mb\x1b[0mc",
        "\x1b[38;2;10;20;30mrgb\x1b[m tail",
        "\x1b[38:5:196mcolon form\x1b[0m 12\x1b[1m34",
        "digits 123\x1b[31m456\x1b[0m789",
        "\u2603 snow \x1b[34m\U0001f600\x1b[0m",
        "multi\nline \x1b[31mred\nstill\x1b[0m",
        "\u241b[31m a defused escape stays text",
    ],
)
def test_split_colours_and_paint_are_inverse(message: str) -> None:
    from logview.store import paint, split_colours
    from logview.text import strip_sgr

    plain, layout = split_colours(message)
    assert plain == strip_sgr(message)
    assert (layout is None) == ("\x1b" not in message)
    assert paint(plain, layout) == message


def test_event_rebuilds_seq_fields_and_colours() -> None:
    store = LogStore()
    a, b = ev(1), ev(2)
    a.seq, a.fields, a.message = "id-1", {"k": "v"}, "\x1b[32mok\x1b[0m"
    b.seq = 7
    store.extend([a, b])
    first, second = store.event(store.first), store.event(store.first + 1)
    assert (first.seq, first.fields, first.message) == ("id-1", {"k": "v"}, "\x1b[32mok\x1b[0m")
    assert (second.seq, second.fields, second.message) == (7, {}, b.message)
    assert store.message[-1] == b.message and store.message[:1] == [a.message]


def test_rows_leave_no_object_for_the_garbage_collector_to_walk() -> None:
    """A full collection walks every tracked object; rows with fields must not add
    one each (a (seq, fields) tuple would: it stays tracked for the dict it holds)."""
    store = LogStore()
    events = [
        ev(i, seq=i * 1000, fields=json.loads(f'{{"request_id": "r{i}", "attempt": {i % 3}}}')) for i in range(20_000)
    ]
    gc.collect()
    before = len(gc.get_objects())
    store.extend(events)
    del events
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert store.event(store.first + 7).fields == {"request_id": "r7", "attempt": 1}
    assert store.event(store.first + 7).seq == 7000
