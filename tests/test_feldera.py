"""Feldera pipeline logs: parsing, and every line once across reconnects that replay the buffer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logview.config import FelderaSource
from logview.errors import AuthError, NotFoundError, RetryableError, ServerError
from logview.model import Item, Level, LogEvent, SourceStatus, State
from logview.providers.feldera import (
    FRESH_START,
    QUIET,
    FelderaProvider,
    Gap,
    LineSplitter,
    Notice,
    ReplayDedupe,
    parse_line,
)
from logview.sim.feldera import PIPELINE, FelderaSim
from logview.sim.server import DEMO_KEYS, SimParams, Simulator

KEY = DEMO_KEYS["feldera"]


@pytest.fixture
def sim_params() -> SimParams:
    """1000 records/s: a few hundred lines take a fraction of a second."""
    return SimParams(seed=42, rate=1000.0, total=None, t0=time.time(), backlog=50)


@pytest.fixture
def feldera(sim: Simulator) -> FelderaSim:
    return sim.feldera


def provider(
    sim: Simulator, client: httpx.AsyncClient, key: str | None = KEY, pipeline: str = PIPELINE
) -> FelderaProvider:
    spec = FelderaSource(provider="feldera", name="fd", base_url=sim.base_url, pipeline=pipeline)
    return FelderaProvider(spec, client, key)


async def read(prov: FelderaProvider, into: list[Item] | None = None) -> list[Item]:
    """One connection's items (also collected in `into`, to keep them when it raises)."""
    items = [] if into is None else into
    async for item in prov.connect():
        items.append(item)
    return items


async def drain(prov: FelderaProvider, max_connections: int = 60) -> list[Item]:
    """What the streamer does: connect again after every cut until the source ends."""
    items: list[Item] = []
    for _ in range(max_connections):
        with contextlib.suppress(RetryableError):
            await read(prov, items)
        if prov.finished:
            return items
    raise AssertionError("the source did not end")


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def drain_through_drops(feldera: FelderaSim, prov: FelderaProvider, drops: int, records: int) -> list[Item]:
    """Let `drops` connections be cut, then end the log `records` records later and read to its end."""
    items: list[Item] = []
    while feldera.connections < drops:
        with contextlib.suppress(RetryableError):
            await read(prov, items)
    feldera.end_after = feldera.records_available() + records
    return items + await drain(prov)


def events(items: list[Item]) -> list[LogEvent]:
    return [i for i in items if isinstance(i, LogEvent)]


def gaps(items: list[Item]) -> list[SourceStatus]:
    return [i for i in items if isinstance(i, SourceStatus) and i.state is State.GAP]


def shown(lines: list[str]) -> list[tuple[str, str | None]]:
    """What a line looks like once delivered: its message and pod (None: inherited)."""
    return [(p.message, p.pod) for p in map(parse_line, lines)]


def inherit(pairs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """A line without a `[name]` prefix belongs to the record above it."""
    out: list[tuple[str, str | None]] = []
    for message, pod in pairs:
        out.append((message, pod if pod is not None else (out[-1][1] if out else None)))
    return out


def received(evs: list[LogEvent]) -> list[tuple[str, str | None]]:
    return [(e.message, e.pod) for e in evs]


def end_soon(feldera: FelderaSim, records: int) -> int:
    """End the log `records` records from now; returns the last record count."""
    feldera.end_after = feldera.records_available() + records
    return feldera.end_after


# --- parsing (in memory) -----------------------------------------------------------


def test_plain_line_gives_pod_time_level_target_and_message() -> None:
    p = parse_line(
        "[fraud-detection] 2024-12-22T07:01:09.075717Z  INFO dbsp_adapters::controller: Pipeline initialized"
    )
    assert (p.pod, p.level, p.message, p.fields) == (
        "fraud-detection",
        Level.INFO,
        "Pipeline initialized",
        {"target": "dbsp_adapters::controller"},
    )
    assert p.ts == datetime(2024, 12, 22, 7, 1, 9, 75717, tzinfo=UTC)


def test_ansi_line_loses_head_colours_but_keeps_message_colours() -> None:
    raw = (
        "[etl] \x1b[2m2024-12-22T07:01:09.075717Z\x1b[0m \x1b[33m WARN\x1b[0m "
        "\x1b[2mdbsp::circuit::runtime\x1b[0m\x1b[2m:\x1b[0m late \x1b[31mrecord\x1b[0m"
    )
    p = parse_line(raw)
    assert (p.pod, p.level, p.fields, p.message) == (
        "etl",
        Level.WARN,
        {"target": "dbsp::circuit::runtime"},
        "late \x1b[31mrecord\x1b[0m",
    )


def test_manager_line_moves_pipeline_identity_into_fields() -> None:
    p = parse_line(
        "[manager] 2024-12-22T07:01:09.000001Z  WARN pipeline_manager::runner::pipeline_logs: "
        '... 7 prior log lines were discarded. pipeline-id="0193" pipeline-name="etl"'
    )
    assert (p.pod, p.level, p.message) == ("manager", Level.WARN, "... 7 prior log lines were discarded.")
    assert p.fields == {
        "target": "pipeline_manager::runner::pipeline_logs",
        "pipeline-id": "0193",
        "pipeline-name": "etl",
    }


def test_json_line_takes_level_target_time_and_fields_message() -> None:
    raw = json.dumps(
        {
            "timestamp": "2025-12-09T21:26:17.362514Z",
            "level": "ERROR",
            "target": "dbsp_adapters::server",
            "feldera-service": "pipeline",
            "pipeline-name": "etl",
            "fields": {"message": "Pipeline failed\ncaused by: disk full", "attempt": 2},
        }
    )
    p = parse_line(raw)
    assert (p.pod, p.level, p.message, p.continues) == (
        "etl",
        Level.ERROR,
        "Pipeline failed\ncaused by: disk full",
        False,
    )
    assert p.fields == {"target": "dbsp_adapters::server", "attempt": "2"}
    assert p.ts == datetime(2025, 12, 9, 21, 26, 17, 362514, tzinfo=UTC)


def test_json_runner_line_is_the_manager_pod() -> None:
    raw = json.dumps(
        {
            "timestamp": "2025-12-06T02:08:14.902292Z",
            "level": "INFO",
            "feldera-service": "runner",
            "fields": {"line": FRESH_START},
        }
    )
    assert (parse_line(raw).pod, parse_line(raw).message) == ("manager", FRESH_START)


def test_empty_line_is_kept_as_an_empty_continuation() -> None:
    p = parse_line("")
    assert (p.message, p.pod, p.ts, p.level, p.continues) == ("", None, None, None, True)


def test_control_sequences_in_a_line_are_made_visible() -> None:
    p = parse_line("[etl] 2024-12-22T07:01:09Z  INFO x: title\x1b]0;pwned\x07 done")
    assert "\x1b]" not in p.message and "\x07" not in p.message


def test_splitter_rejoins_lines_across_chunks_and_keeps_the_tail() -> None:
    s = LineSplitter()
    assert s.feed(b"one\ntw") == ["one"]
    assert s.feed(b"o\n\nthr") == ["two", ""]
    assert s.rest() == "thr"


def test_splitter_cuts_an_overlong_line_the_same_way_however_it_is_chunked() -> None:
    line = b"x" * 25 + b"\n" + b"ok\n"
    whole = LineSplitter(limit=10).feed(line)
    pieces = LineSplitter(limit=10)
    bytewise = [out for i in range(len(line)) for out in pieces.feed(line[i : i + 1])]
    assert whole == bytewise == ["x" * 10 + " … [line cut: 15 more bytes]", "ok"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"\xc3\xa9", b"\xc3", b"\xff", b"\n", b"\r\n", b"xyz" * 5]), max_size=30).map(
        b"".join
    ),
    st.lists(st.integers(0, 200), max_size=6),
    st.sampled_from([4, 10, 1 << 20]),
)
def test_splitter_gives_the_same_lines_however_the_bytes_are_chunked(data: bytes, cuts: list[int], limit: int) -> None:
    points = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
    chunked = LineSplitter(limit=limit)
    got = [line for a, b in itertools.pairwise(points) for line in chunked.feed(data[a:b])]
    bytewise = LineSplitter(limit=limit)
    want = [line for i in range(len(data)) for line in bytewise.feed(data[i : i + 1])]
    assert got == want
    assert chunked.rest() == bytewise.rest()


# --- dedupe (in memory) -------------------------------------------------------------


def connection(d: ReplayDedupe, lines: list[str], quiet: bool = False) -> list[object]:
    d.begin()
    out: list[object] = [o for ln in lines for o in d.feed(ln)]
    return out + list(d.quiet()) if quiet else out


def notice(n: int) -> str:
    return (
        f"[manager] 2024-12-22T07:01:09Z  WARN runner: ... {n} prior log lines were discarded due to buffer constraints"
    )


def test_position_header_dedupes_identical_lines_exactly() -> None:
    d = ReplayDedupe()
    fresh = f"[manager] 2024-12-22T07:01:09Z  INFO runner: {FRESH_START}"
    assert connection(d, [fresh, "x", "x", "x"]) == [fresh, "x", "x", "x"]
    # 2 lines rotated out; the buffer now holds our last two x and two new ones.
    assert connection(d, [notice(2), "x", "x", "x", "x"]) == ["x", "x"]


def test_content_overlap_with_repeated_lines_takes_the_longest_match() -> None:
    d = ReplayDedupe()
    connection(d, ["a", "x", "x", "x"])
    assert connection(d, ["x", "x", "x", "x", "b"]) == ["x", "b"]


def test_silence_settles_an_overlap_that_could_still_grow() -> None:
    d = ReplayDedupe()
    connection(d, ["x", "x", "x"])
    d.begin()
    assert d.feed("x") == []
    assert d.deciding
    assert d.quiet() == []
    assert d.feed("x") == ["x"]


def test_replay_without_overlap_is_a_gap_then_the_whole_buffer() -> None:
    d = ReplayDedupe()
    connection(d, ["a", "b"])
    out = connection(d, ["c", "d"])
    assert isinstance(out[0], Gap) and out[1:] == ["c", "d"]


def test_notice_beyond_our_position_is_a_gap_with_the_count() -> None:
    d = ReplayDedupe()
    fresh = f"[manager] 2024-12-22T07:01:09Z  INFO runner: {FRESH_START}"
    connection(d, [fresh, "a", "b"])
    out = connection(d, [notice(5), "f", "g"])
    assert isinstance(out[0], Gap) and "2 lines rotated out" in out[0].reason
    assert out[1] == Notice(notice(5)) and out[2:] == ["f", "g"]


def test_connection_cut_before_the_decision_changes_nothing() -> None:
    d = ReplayDedupe()
    connection(d, ["a", "x", "x"])
    assert connection(d, ["x"]) == []  # still deciding when cut
    assert connection(d, ["x", "x", "y"]) == ["y"]


# --- against the simulator ---------------------------------------------------------


async def test_stream_delivers_the_sims_lines_in_order(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    last = end_soon(feldera, 120)
    fresh = feldera.buffer()[0]
    evs = events(await drain(provider(sim, client)))
    expected = [fresh, *feldera.wire_lines(0, last)]
    assert received(evs) == inherit(shown(expected))
    assert [e.seq for e in evs] == list(range(1, len(expected) + 1))
    assert all(e.pod in ("fraud-detection", "manager") for e in evs)
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(evs))


@pytest.mark.parametrize("clean", [False, True], ids=["abrupt", "clean"])
async def test_reconnects_replay_is_deduped_every_line_once(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient, clean: bool
) -> None:
    feldera.drop_after = 10
    feldera.drop_clean = clean
    fresh = feldera.buffer()[0]
    items = await drain_through_drops(feldera, provider(sim, client), drops=5, records=250)
    expected = [fresh, *feldera.wire_lines(0, feldera.end_after or 0)]
    assert len(expected) > 300 and feldera.connections >= 6
    assert [m for m, _ in received(events(items))] == [m for m, _ in shown(expected)]
    assert gaps(items) == []


async def test_identical_lines_are_deduped_exactly_by_position(client: httpx.AsyncClient) -> None:
    """Every line is "tick" and the buffer has rotated: only the stated positions tell them apart."""
    with Simulator(SimParams(seed=1, rate=300.0, t0=time.time(), backlog=150)) as sim:
        feldera = sim.feldera
        feldera.constant_line = "tick"
        feldera.capacity_lines = 100
        feldera.drop_after = 4
        items = await drain_through_drops(feldera, provider(sim, client), drops=5, records=30)
        last = feldera.end_after or 0
    evs = events(items)
    m = re.search(r"(\d+) prior log lines were discarded", evs[0].message)
    assert m is not None and feldera.connections >= 6
    # Position 0 was the fresh-start line, so the first replay began at record N-1.
    assert [e.message for e in evs[1:]] == ["tick"] * (last - int(m.group(1)) + 1)
    [gap] = gaps(items)  # only the history discarded before logview connected
    assert gap.gap_from is None and "already discarded" in gap.message


async def test_without_headers_overlap_is_found_by_content(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    feldera.notice = feldera.fresh_start = False
    feldera.capacity_lines = 400
    feldera.drop_after = 10
    items = await drain_through_drops(feldera, provider(sim, client), drops=5, records=250)
    expected = [m for m, _ in shown(feldera.wire_lines(0, feldera.end_after or 0))]
    got = [e.message for e in events(items)]
    assert feldera.connections >= 6 and len(got) > 300
    assert got == expected[len(expected) - len(got) :]
    assert gaps(items) == []


async def test_server_silence_settles_a_replay_of_repeated_lines(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    """No headers, every line "tick", a replay shorter than what we have: only the pause after it tells."""
    feldera.constant_line = "tick"
    feldera.notice = feldera.fresh_start = False
    feldera.capacity_lines = 30
    stop = sim.params.total = feldera.records_available() + 200
    prov = provider(sim, client)
    got: list[Item] = []

    async def follow() -> None:
        while not prov.finished:
            with contextlib.suppress(RetryableError):
                await read(prov, got)

    task = asyncio.create_task(follow())
    try:
        await until(lambda: bool(feldera.replays) and len(got) == feldera.replays[0][0] + stop - feldera.replays[0][1])
        first = len(got)
        assert first > 30
        feldera.cut_all()
        await until(lambda: feldera.connections == 2)
        await asyncio.sleep(QUIET + 0.3)
        assert len(got) == first and not prov.dedupe.deciding  # the 30 replayed ticks were ours
        feldera.end_after = sim.params.total = stop + 10
        await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
    assert [e.message for e in events(got)] == ["tick"] * (first + 10) and gaps(got) == []


async def test_buffer_rotating_past_the_client_is_a_gap_then_only_new_lines(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    feldera.drop_after = 10
    last = end_soon(feldera, 200)
    prov = provider(sim, client)
    first: list[Item] = []
    with pytest.raises(RetryableError):
        await read(prov, first)
    feldera.capacity_lines = 20
    while feldera.records_available() < last:
        await asyncio.sleep(0.01)
    buffer = feldera.buffer()
    second = await drain(prov)
    [gap] = gaps(first + second)
    before, after = events(first), events(second)
    assert "prior log lines were discarded" in after[0].message  # the server's notice, shown
    assert [m for m, _ in received(after[1:])] == [m for m, _ in shown(buffer)]
    assert max(e.ts for e in before) <= min(e.ts for e in after[1:])  # nothing shown twice
    assert second.index(gap) == second.index(after[1]) - 1
    assert gap.gap_from == before[-1].ts and gap.gap_to == after[1].ts
    assert "rotated out" in gap.message


async def test_runner_restart_is_a_gap_then_the_fresh_buffer(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    feldera.drop_after = 10
    end_soon(feldera, 150)
    prov = provider(sim, client)
    first: list[Item] = []
    with pytest.raises(RetryableError):
        await read(prov, first)
    feldera.restart()
    second = await drain(prov)
    [gap] = gaps(second)
    after = events(second)
    assert "restarted" in gap.message
    assert after[0].message == FRESH_START and after[0].pod == "manager"
    assert second.index(gap) == second.index(after[0]) - 1
    keys = [(e.ts, e.message) for e in events(first) + after if e.message]
    assert len(keys) == len(set(keys))


async def test_logs_have_ended_finishes_the_source_without_showing_it(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    end_soon(feldera, 5)
    prov = provider(sim, client)
    items = await read(prov)
    assert prov.finished
    assert not any(e.message == "Logs have ended" for e in events(items))
    assert isinstance(items[-1], SourceStatus) and items[-1].state is State.INFO


async def test_json_mode_lines_carry_level_target_and_pod(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    feldera.json_mode = True
    last = end_soon(feldera, 60)
    evs = events(await drain(provider(sim, client)))
    expected = feldera.wire_lines(0, last)
    assert evs[0].message == FRESH_START
    assert received(evs[1:]) == inherit(shown(expected))
    records = [e for e in evs if e.message]  # blank lines are lines too, with nothing to parse
    assert all(
        e.level is not None and "target" in e.fields and e.pod in ("fraud-detection", "manager") for e in records
    )


async def test_idle_stream_sends_nothing_and_is_not_a_stall(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    sim.params.total = feldera.records_available()
    prov = provider(sim, client)
    got: list[Item] = []
    task = asyncio.create_task(read(prov, got))
    await asyncio.sleep(0.6)
    assert not task.done()  # still connected, waiting quietly
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert prov.stall_timeout is None and len(events(got)) == len(feldera.buffer())


@pytest.mark.parametrize("empty", [False, True], ids=["json-body", "empty-body"])
async def test_unknown_pipeline_is_not_found_naming_it(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient, empty: bool
) -> None:
    feldera.empty_404 = empty
    with pytest.raises(NotFoundError, match="no-such-pipeline"):
        await read(provider(sim, client, pipeline="no-such-pipeline"))


async def test_wrong_key_is_auth_error_naming_the_variable_not_the_key(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    wrong = "apikey:not-the-right-one"
    with pytest.raises(AuthError) as e:
        await read(provider(sim, client, key=wrong))
    assert "FELDERA_API_KEY" in str(e.value) and wrong not in str(e.value) and KEY not in str(e.value)


async def test_runner_unreachable_is_retryable_with_its_code(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    feldera.unavailable = 1
    end_soon(feldera, 3)
    prov = provider(sim, client)
    with pytest.raises(ServerError, match="RunnerInteractionUnreachable"):
        await read(prov)
    assert events(await drain(prov))


async def test_json_error_body_with_200_is_not_shown_as_logs(
    sim: Simulator, feldera: FelderaSim, client: httpx.AsyncClient
) -> None:
    feldera.json_200 = True
    got: list[Item] = []
    with pytest.raises(ServerError, match="application/json"):
        await read(provider(sim, client), got)
    assert got == []
