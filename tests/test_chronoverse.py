"""Chronoverse: the simulator's wire format, and the adapter against it over loopback.

The events endpoint has no resume and no backfill, so every test that counts
lines checks the same promise: each sequence number exactly once, the ones the
live stream could not bring taken from the history endpoint.
"""

from __future__ import annotations

import asyncio
import re
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest

from logview.config import ChronoverseSource
from logview.errors import AuthError, NotFoundError, RetryableError, StreamCut
from logview.model import Item, Level, LogEvent, SourceStatus, State
from logview.providers import chronoverse as cv_provider
from logview.providers.chronoverse import ChronoverseProvider
from logview.sim.chronoverse import (
    BROKEN_LOG,
    ERROR_TEXT,
    FINISHED_JOB_ID,
    RUNNING_JOB_ID,
    WORKFLOW_ID,
    ChronoverseSim,
)
from logview.sim.content import TRACEBACK
from logview.sim.server import DEMO_KEYS, SimParams, Simulator
from logview.sse import SSEDecoder
from logview.text import detect_level, parse_ts, sanitize

KEY = DEMO_KEYS["chronoverse"]


def make(
    sim: Simulator,
    client: httpx.AsyncClient,
    *,
    job: str = RUNNING_JOB_ID,
    secret: str = KEY,
    auth: Literal["bearer", "cookie"] = "bearer",
) -> ChronoverseProvider:
    spec = ChronoverseSource(
        provider="chronoverse", name="etl", base_url=sim.base_url, workflow_id=WORKFLOW_ID, job_id=job, auth=auth
    )
    return ChronoverseProvider(spec, client, secret)


@dataclass
class Run:
    events: list[LogEvent] = field(default_factory=list)
    statuses: list[SourceStatus] = field(default_factory=list)
    errors: list[RetryableError] = field(default_factory=list)
    connects: int = 0

    @property
    def seqs(self) -> list[int | str | None]:
        return [e.seq for e in self.events]

    def add(self, item: Item) -> None:
        if isinstance(item, LogEvent):
            self.events.append(item)
        else:
            self.statuses.append(item)


async def follow(p: ChronoverseProvider, *, until: int | None = None, run: Run | None = None) -> Run:
    """Drive connect() as the streamer does, reconnecting at once, until finished or `until` lines."""
    run = run or Run()

    async def go() -> None:
        while not p.finished and run.connects < 60:
            run.connects += 1
            try:
                async with aclosing(p.connect()) as items:
                    async for item in items:
                        run.add(item)
                        if until is not None and len(run.events) >= until:
                            return
            except RetryableError as e:
                run.errors.append(e)

    await asyncio.wait_for(go(), 10)
    return run


# --- the simulator ----------------------------------------------------------------


def test_sim_record_zero_has_no_sequence_num_and_timestamps_have_nanoseconds() -> None:
    sim = ChronoverseSim(SimParams(seed=1, rate=10, t0=1_780_000_000.0), KEY)
    first, second = sim.record(0), sim.record(1)
    assert "sequence_num" not in first
    assert second["sequence_num"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", first["timestamp"])
    assert second["timestamp"] == "2026-05-28T20:26:40.100000000Z"


def test_sim_prints_a_traceback_as_one_stderr_record_per_line() -> None:
    sim = ChronoverseSim(SimParams(seed=42, rate=10), KEY)
    lines = TRACEBACK.split("\n")
    start = next(i for i in range(2000) if sim.record(i).get("message") == lines[0])
    block = [sim.record(start + j) for j in range(len(lines))]
    assert [r["message"] for r in block] == lines
    assert {r["stream"] for r in block} == {"stderr"}
    assert [r["sequence_num"] for r in block] == list(range(start, start + len(lines)))


async def test_sim_live_stream_starts_at_connect_time_without_ids(sim: Simulator, client: httpx.AsyncClient) -> None:
    url = f"{sim.base_url}/workflows/{WORKFLOW_ID}/jobs/{RUNNING_JOB_ID}/events"
    decoder, events, raw = SSEDecoder(), [], b""
    async with client.stream("GET", url, headers={"Authorization": f"Bearer {KEY}", "Last-Event-ID": "3"}) as resp:
        async for chunk in resp.aiter_bytes():
            raw += chunk
            events += decoder.feed(chunk)
            if len(events) >= 3:
                break
    assert [e.event for e in events[:2]] == ["connected", "log"]
    assert events[0].data == '{"status":"connected"}'
    first = sim.chronoverse.live_starts[0]
    assert first >= sim.params.backlog
    assert f'"sequence_num":{first},' in events[1].data
    assert b"\nid:" not in raw and not raw.startswith(b"id:") and b"retry:" not in raw


async def test_sim_history_pages_newest_first_and_last_page_has_no_cursor(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    url = f"{sim.base_url}/workflows/{WORKFLOW_ID}/jobs/{FINISHED_JOB_ID}/logs"
    pages: list[dict[str, Any]] = []
    params: dict[str, str] = {}
    while True:
        body = (await client.get(url, params=params, headers={"Cookie": f"session={KEY}"})).json()
        pages.append(body)
        if "cursor" not in body:
            break
        params = {"cursor": body["cursor"]}
    assert [len(p["logs"]) for p in pages] == [100, 100, 40]
    seqs = [r.get("sequence_num", 0) for p in pages for r in p["logs"]]
    assert seqs == list(range(239, -1, -1))


async def test_sim_finished_job_stream_is_connected_then_end(sim: Simulator, client: httpx.AsyncClient) -> None:
    url = f"{sim.base_url}/workflows/{WORKFLOW_ID}/jobs/{FINISHED_JOB_ID}/events"
    resp = await client.get(url, headers={"Authorization": f"Bearer {KEY}"})
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert (
        resp.content
        == b'event: connected\ndata: {"status":"connected"}\n\nevent: end\ndata: {"status":"stream_ended"}\n\n'
    )


# --- the adapter --------------------------------------------------------------------


async def test_events_are_exactly_the_sim_records(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.chronoverse.job.length = 150
    p = make(sim, client)
    run = await follow(p)
    assert p.finished
    assert len(run.events) == 150
    for i, ev in enumerate(run.events):
        rec = sim.chronoverse.record(i)
        message = sanitize(rec.get("message", ""))
        assert (ev.seq, ev.message, ev.stream, ev.ts) == (i, message, rec["stream"], parse_ts(rec["timestamp"]))
        assert ev.fields == ({"event_id": rec["event_id"]} if "event_id" in rec else {})
        assert ev.level == detect_level(message)
        assert ev.provider == "chronoverse"
    assert "sequence_num" not in sim.chronoverse.record(0)
    assert run.events[0].seq == 0


async def test_stderr_lines_get_no_error_level_from_the_stream_name(sim: Simulator, client: httpx.AsyncClient) -> None:
    run = await follow(make(sim, client, job=FINISHED_JOB_ID))
    plain_stderr = [e for e in run.events if e.stream == "stderr" and detect_level(e.message) is None]
    assert plain_stderr  # traceback lines carry no level word
    assert all(e.level is None for e in plain_stderr)


async def test_first_connect_backfills_history_before_live_lines(sim: Simulator, client: httpx.AsyncClient) -> None:
    run = await follow(make(sim, client), until=120)
    assert run.seqs == list(range(120))
    assert run.connects == 1
    assert sim.chronoverse.live_starts[0] >= sim.params.backlog  # 0..start-1 could only come from history
    assert sim.chronoverse.history_requests >= 1


async def test_every_record_once_in_order_across_forced_drops(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.chronoverse.job.length = 650
    sim.chronoverse.drop_after = 50
    p = make(sim, client)
    run = await follow(p)
    assert p.finished
    assert len(run.errors) >= 5
    assert all(isinstance(e, StreamCut) for e in run.errors)
    assert run.seqs == list(range(650))


async def test_end_marks_finished_and_nothing_reconnects(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.chronoverse.job.length = 80
    p = make(sim, client)
    run = await follow(p)
    assert p.finished
    assert run.connects == 1 and len(sim.chronoverse.live_starts) == 1
    assert run.seqs == list(range(80))


async def test_finished_job_is_read_whole_from_history(sim: Simulator, client: httpx.AsyncClient) -> None:
    p = make(sim, client, job=FINISHED_JOB_ID)
    run = await follow(p)
    assert p.finished and run.connects == 1
    assert run.seqs == list(range(240))
    assert sim.chronoverse.history_requests >= 3  # three pages of 100


async def test_error_event_gives_status_and_retryable_then_next_connect_fills_gap(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.chronoverse.error_after = 20
    p = make(sim, client)
    first = Run()
    with pytest.raises(RetryableError) as exc:
        async with aclosing(p.connect()) as items:
            async for item in items:
                first.add(item)
    assert any(ERROR_TEXT in s.message for s in first.statuses)
    assert ERROR_TEXT in str(exc.value)
    last = first.events[-1].seq
    assert isinstance(last, int)
    sim.chronoverse.error_after = None
    await asyncio.sleep(0.1)  # lines are produced while we are away
    run = await follow(p, until=len(first.events) + 100, run=first)
    assert run.seqs == list(range(len(run.events)))
    assert sim.chronoverse.live_starts[1] > last + 1  # the gap was real: history filled it


async def test_cookie_auth_sends_the_session_cookie(sim: Simulator, client: httpx.AsyncClient) -> None:
    run = await follow(make(sim, client, auth="cookie"), until=5)
    assert run.seqs == list(range(5))
    assert set(sim.chronoverse.auth_methods) == {"cookie"}


async def test_wrong_token_raises_auth_error_naming_the_env_var(sim: Simulator, client: httpx.AsyncClient) -> None:
    secret = "cv_wrong_token_5f3a9c"
    p = make(sim, client, secret=secret)
    with pytest.raises(AuthError) as exc:
        async for _ in p.connect():
            pass
    assert "CHRONOVERSE_TOKEN" in str(exc.value)
    assert secret not in str(exc.value) and secret not in repr(p)


async def test_unknown_job_raises_not_found(sim: Simulator, client: httpx.AsyncClient) -> None:
    p = make(sim, client, job="job_19990101_0000")
    with pytest.raises(NotFoundError) as exc:
        async for _ in p.connect():
            pass
    assert "job_19990101_0000" in str(exc.value)


async def test_history_unavailable_is_retried_then_a_gap_and_live_lines_go_on(
    sim: Simulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cv_provider, "HISTORY_RETRY_DELAYS", (0.01, 0.02))
    sim.chronoverse.history_status = 503
    run = await follow(make(sim, client), until=20)
    retrying = [s for s in run.statuses if s.state is State.INFO and "retrying" in s.message]
    gaps = [s for s in run.statuses if s.state is State.GAP]
    assert [s.state for s in run.statuses] == [State.INFO, State.INFO, State.GAP]
    assert all("history is unavailable" in s.message and "503" in s.message for s in retrying)
    assert "could not read the job's history" in gaps[0].message and "tried 3 times" in gaps[0].message
    assert sim.chronoverse.history_requests == 3
    start = sim.chronoverse.live_starts[0]
    assert run.seqs == list(range(start, start + 20))
    assert run.errors == []


async def test_history_that_fails_for_a_while_is_retried_and_fills_the_hole(
    sim: Simulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cv_provider, "HISTORY_RETRY_DELAYS", (0.01, 0.02, 0.04))
    sim.chronoverse.job.length = 400
    sim.chronoverse.drop_after = 60  # every reconnect leaves a hole only history can fill
    sim.chronoverse.history_status = 502
    sim.chronoverse.history_failures = 2
    p = make(sim, client)
    run = await follow(p)
    assert p.finished
    assert run.seqs == list(range(400))
    assert not any(s.state is State.GAP for s in run.statuses)
    retrying = [s.message for s in run.statuses if s.state is State.INFO]
    assert len(retrying) == 2 and all("history is unavailable (server error (502" in m for m in retrying)
    assert sim.chronoverse.history_failures == 0


async def test_history_slower_than_the_stall_timeout_still_fills_every_hole(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    """A loaded server answers history late: that is not a stalled stream, and no line may be lost to it."""
    quick = type("QuickChronoverse", (ChronoverseProvider,), {"stall_timeout": 0.1})
    sim.chronoverse.job.length = 600
    sim.chronoverse.drop_after = 80
    sim.chronoverse.history_delay = 0.3
    p = quick(make(sim, client).spec, client, KEY)
    run = await follow(p)
    assert p.finished
    assert run.seqs == list(range(600))
    assert [s for s in run.statuses if s.state in (State.GAP, State.INFO)] == []
    assert len(sim.chronoverse.live_starts) >= 2  # a reconnect whose hole history filled


async def test_history_failing_at_the_end_is_retried_before_lines_are_declared_lost(
    sim: Simulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cv_provider, "HISTORY_RETRY_DELAYS", (0.01, 0.02, 0.04))
    sim.chronoverse.job.length = 300
    sim.chronoverse.lose_every = 7  # holes that only the fill after `end` closes
    p = make(sim, client)
    run = Run()
    async with asyncio.timeout(10), aclosing(p.connect()) as items:
        async for item in items:
            run.add(item)
            if len(run.events) == 150:
                sim.chronoverse.history_status = 503
                sim.chronoverse.history_failures = 3
    assert p.finished
    assert sorted(run.seqs) == list(range(300))  # type: ignore[type-var]
    assert not any(s.state is State.GAP for s in run.statuses)
    assert len([s for s in run.statuses if s.state is State.INFO]) == 3


async def test_malformed_log_event_is_shown_as_unparseable(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.chronoverse.malformed = True
    run = Run()
    # One connection: the broken frame follows the history backfill, however long that has grown by then.
    async with asyncio.timeout(10), aclosing(make(sim, client).connect()) as items:
        async for item in items:
            run.add(item)
            if any(e.seq is None for e in run.events) and len(run.events) >= 80:
                break
    bad = [e for e in run.events if e.seq is None]
    assert len(bad) == 1 and bad[0].message == BROKEN_LOG
    assert bad[0].fields["logview"] == "unparseable" and bad[0].fields["why"] and bad[0].level is Level.WARN
    good = [e.seq for e in run.events if e.seq is not None]
    assert good == list(range(len(good)))


async def test_lines_the_live_stream_lost_are_filled_from_history_at_end(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.chronoverse.job.length = 300
    sim.chronoverse.lose_every = 7
    p = make(sim, client)
    run = await follow(p)
    assert p.finished and run.connects == 1
    assert sorted(run.seqs) == list(range(300))  # type: ignore[type-var]
    assert not any(s.state is State.GAP for s in run.statuses)


async def test_holes_in_live_numbering_are_filled_mid_stream(
    sim: Simulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cv_provider, "HOLE_PATIENCE", 0.05)
    sim.chronoverse.lose_every = 10
    run = await follow(make(sim, client), until=250)
    start = sim.chronoverse.live_starts[0]
    lost = next(i for i in range(start, start + 10) if i % 10 == 9)
    assert lost in run.seqs
    assert len(set(run.seqs)) == len(run.seqs)
