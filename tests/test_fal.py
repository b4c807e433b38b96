"""The fal adapter against the fal simulation, over real HTTP on loopback."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from logview.config import FalFilter, FalSource
from logview.errors import AuthError, RateLimited, RetryableError
from logview.model import Item, Level, LogEvent, SourceStatus, State
from logview.providers.fal import FalProvider
from logview.sim.content import TRACEBACK
from logview.sim.fal import APP, OTHER_APP
from logview.sim.server import DEMO_KEYS, SimParams, Simulator
from logview.text import detect_level, format_ts

KEY = DEMO_KEYS["fal"]


@pytest.fixture
def sim_params() -> SimParams:
    """A deep backlog, so every record a test reads exists at once."""
    return SimParams(seed=42, rate=400.0, total=None, t0=time.time(), backlog=600)


def provider(sim: Simulator, client: httpx.AsyncClient, secret: str = KEY, **spec: Any) -> FalProvider:
    return FalProvider(FalSource(provider="fal", name="fal", base_url=sim.base_url, **spec), client, secret)


async def read(p: FalProvider, n: int, max_connects: int = 30) -> list[list[Item]]:
    """Call connect() as the streamer does until n events came; items per connection."""
    conns: list[list[Item]] = []
    count = 0
    while count < n and len(conns) < max_connects:
        items: list[Item] = []
        conns.append(items)
        try:
            async for item in p.connect():
                items.append(item)
                count += isinstance(item, LogEvent)
                if count >= n:
                    break
        except RetryableError:
            pass
    return conns


def events(conns: list[list[Item]]) -> list[LogEvent]:
    return [it for items in conns for it in items if isinstance(it, LogEvent)]


def ts(rec: dict[str, Any]) -> datetime:
    return datetime.strptime(rec["timestamp"], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def expected(rec: dict[str, Any]) -> tuple[Any, ...]:
    """What one wire entry must become, written out independently of the adapter."""
    raw = rec["level"]
    levels = {"info": Level.INFO, "debug": Level.DEBUG, "warning": Level.WARN, "warn": Level.WARN, "error": Level.ERROR}
    stream = raw if raw in ("stdout", "stderr") else None
    level = detect_level(rec["message"]) if stream else levels[raw.lower()]
    fields = {**rec["labels"], "app": rec["app"], "revision": rec["revision"]}
    return (rec["message"], ts(rec), level, rec["labels"]["fal_worker_id"], stream, fields)


def got(ev: LogEvent) -> tuple[Any, ...]:
    return (ev.message, ev.ts, ev.level, ev.pod, ev.stream, ev.fields)


def records(sim: Simulator, n: int) -> list[dict[str, Any]]:
    return [sim.fal.record(i) for i in range(n)]


async def test_stream_equals_the_records_sent_including_a_multiline_traceback(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    recs = records(sim, 400)
    first_tb = next(i for i, r in enumerate(recs) if r["message"] == TRACEBACK)
    n = first_tb + 5
    evs = events(await read(provider(sim, client), n))
    assert [got(e) for e in evs] == [expected(r) for r in recs[:n]]
    assert evs[first_tb].message.count("\n") == TRACEBACK.count("\n") > 3
    assert evs[first_tb].ts.tzinfo is UTC


async def test_level_names_fold_case_and_warning_becomes_warn(sim: Simulator, client: httpx.AsyncClient) -> None:
    recs = records(sim, 200)
    evs = events(await read(provider(sim, client), 200))
    seen = {(r["level"], e.level) for r, e in zip(recs, evs, strict=True) if r["level"] not in ("stdout", "stderr")}
    assert {
        ("warning", Level.WARN),
        ("WARNING", Level.WARN),
        ("warn", Level.WARN),
        ("info", Level.INFO),
        ("INFO", Level.INFO),
        ("ERROR", Level.ERROR),
    } <= seen
    assert all(lvl is not None for _, lvl in seen)


async def test_stdout_and_stderr_are_streams_with_the_level_read_from_the_text(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    recs = records(sim, 200)
    evs = events(await read(provider(sim, client), 200))
    user = [(r, e) for r, e in zip(recs, evs, strict=True) if r["level"] in ("stdout", "stderr")]
    assert {r["level"] for r, _ in user} == {"stdout", "stderr"}
    assert all(e.stream == r["level"] and e.level == detect_level(r["message"]) for r, e in user)
    assert any(e.level is None for _, e in user)  # plain prints stay unlevelled


@pytest.mark.parametrize("clean", [False, True], ids=["cut", "closed"])
async def test_reconnects_deliver_every_entry_once_in_order(
    sim: Simulator, client: httpx.AsyncClient, clean: bool
) -> None:
    sim.fal.drop_after = 50
    sim.fal.drop_clean = clean
    n = 330
    conns = await read(provider(sim, client), n)
    assert len(conns) >= 6
    assert [got(e) for e in events(conns)] == [expected(r) for r in records(sim, n)]
    # a cut fell between entries sharing one timestamp: the hard case was exercised
    bounds = [(c[-1], d[0]) for c, d in itertools.pairwise(conns) if c and d]
    assert any(isinstance(a, LogEvent) and isinstance(b, LogEvent) and a.ts == b.ts for a, b in bounds)


async def test_resume_asks_for_start_at_the_last_timestamp_seen(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.fal.drop_after = 20
    conns = await read(provider(sim, client, start="2020-01-01T00:00:00Z"), 30)
    last = [e for e in conns[0] if isinstance(e, LogEvent)][-1]
    assert dict(sim.fal.requests[0].params)["start"] == "2020-01-01T00:00:00Z"
    assert dict(sim.fal.requests[1].params)["start"] == format_ts(last.ts)
    assert format_ts(last.ts).endswith("Z")


async def test_identical_entries_at_one_timestamp_both_survive_a_cut_between_them(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    recs = records(sim, 400)
    k = next(i for i in range(len(recs) - 1) if recs[i] == recs[i + 1])
    sim.fal.drop_after = k + 1  # the first connection ends right after the first twin
    conns = await read(provider(sim, client), k + 10)
    assert events(conns[:1])[-1].message == recs[k]["message"]
    assert [got(e) for e in events(conns)] == [expected(r) for r in recs[: k + 10]]


async def test_label_filters_go_in_the_body_and_select_on_the_server(sim: Simulator, client: httpx.AsyncClient) -> None:
    worker = sim.fal.workers[1]
    p = provider(sim, client, filters=[FalFilter(key="fal_worker_id", value=worker, condition_type="equals")])
    evs = events(await read(p, 40))
    want = [r for r in records(sim, 600) if r["labels"]["fal_worker_id"] == worker][:40]
    assert sim.fal.requests[0].body == [{"key": "fal_worker_id", "value": worker, "condition_type": "equals"}]
    assert [got(e) for e in evs] == [expected(r) for r in want]


async def test_filter_without_condition_type_is_sent_without_one(sim: Simulator, client: httpx.AsyncClient) -> None:
    pair = sim.fal.workers[:2]
    evs = events(await read(provider(sim, client, filters=[FalFilter(key="fal_worker_id", value=pair)]), 30))
    assert sim.fal.requests[0].body == [{"key": "fal_worker_id", "value": pair}]
    assert {e.pod for e in evs} == set(pair)


async def test_level_and_app_id_params_filter_on_the_server(sim: Simulator, client: httpx.AsyncClient) -> None:
    p = provider(sim, client, app_id=[APP, "acme/not-deployed"], level="warning")
    evs = events(await read(p, 40))
    warn_up = {"warning", "warn", "error"}
    want = [r for r in records(sim, 600) if r["app"] == APP and r["level"].lower() in warn_up][:40]
    params = sim.fal.requests[0].params
    assert [v for k, v in params if k == "app_id"] == [APP, "acme/not-deployed"]
    assert ("level", "warning") in params
    assert [got(e) for e in evs] == [expected(r) for r in want]
    assert OTHER_APP in {r["app"] for r in records(sim, 600)}  # there was something to filter out


async def test_wrong_key_is_an_auth_error_naming_fal_key_without_the_key(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    secret = "key_id_wrong:secret_s3cr3t_value"
    p = provider(sim, client, secret=secret)
    with pytest.raises(AuthError) as info:
        async for _ in p.connect():
            pass
    text = str(info.value)
    assert "FAL_KEY" in text and "401" in text
    assert "secret_s3cr3t_value" not in text and "key_id_wrong" not in text and secret not in repr(p)


async def test_error_event_is_a_status_and_the_stream_goes_on(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.fal.error_event_next = True
    conns = await read(provider(sim, client), 20)
    assert len(conns) == 1
    status = conns[0][0]
    assert isinstance(status, SourceStatus) and status.state is State.INFO
    assert "log shard eu-1 is lagging" in status.message
    assert [got(e) for e in events(conns)] == [expected(r) for r in records(sim, 20)]


async def test_unparseable_json_is_shown_sanitized_not_dropped(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.fal.malformed_next = True
    conns = await read(provider(sim, client), 11)
    bad, *rest = events(conns)
    assert bad.fields["logview"] == "unparseable" and bad.fields["why"].startswith("not JSON")
    assert bad.level is Level.WARN
    assert bad.message.startswith('{"timestamp": "2025-09-19T12:16:10", "message": "half')
    assert "\x1b" not in bad.message and "\x07" not in bad.message and "␛" in bad.message
    assert [got(e) for e in rest] == [expected(r) for r in records(sim, 10)]  # the empty frame made nothing


async def test_rate_limit_is_retryable_with_the_servers_delay(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.fal.fail_next = [429]
    with pytest.raises(RateLimited) as info:
        async for _ in provider(sim, client).connect():
            pass
    assert info.value.retry_after == 1.0


async def test_bounded_query_ends_at_end_and_then_finishes(sim: Simulator, client: httpx.AsyncClient) -> None:
    recs = records(sim, 100)
    end = format_ts(ts(recs[40]))
    p = provider(sim, client, end=end)
    first = [e async for e in p.connect()]
    assert [got(e) for e in first if isinstance(e, LogEvent)] == [expected(r) for r in recs if ts(r) <= ts(recs[40])]
    assert not p.finished
    assert [e async for e in p.connect()] == []
    assert p.finished
