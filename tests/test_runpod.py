"""RunPod worker logs: the adapter against the simulator over loopback.

The simulator's `record(i)` says exactly what record i is, so each test
compares what the adapter yielded with what the server sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logview.config import RunPodSource
from logview.errors import AuthError, FatalSourceError, NotFoundError, RateLimited, StreamCut
from logview.model import Item, Level, LogEvent
from logview.providers.runpod import RunPodProvider
from logview.sim.runpod import ENDPOINT_ID, TERMINATED, WORKERS, RunPodRecord, RunPodSim
from logview.sim.server import DEMO_KEYS, Simulator
from logview.sse import SSEDecoder, SSEvent
from logview.text import detect_level, parse_ts, sanitize

KEY = DEMO_KEYS["runpod"]


def make(sim: Simulator | None, client: httpx.AsyncClient | None, key: str | None = KEY, **kw: Any) -> RunPodProvider:
    """An adapter for worker_a1b2c3 (spec options as keywords); no sim for pure decoding."""
    fields: dict[str, Any] = {"endpoint_id": ENDPOINT_ID, "worker_id": WORKERS[0], **kw}
    spec = RunPodSource(provider="runpod", name="sdxl", base_url=sim.base_url if sim else "", **fields)
    return RunPodProvider(spec, client, key)


async def one_connection(provider: RunPodProvider, limit: int | None = None) -> list[LogEvent]:
    """The events of one connect() call: up to `limit`, or until it ends or is cut."""
    out: list[LogEvent] = []
    try:
        async with aclosing(cast(AsyncGenerator[Item, None], provider.connect())) as stream:
            async for item in stream:
                assert isinstance(item, LogEvent), item
                out.append(item)
                if limit is not None and len(out) >= limit:
                    break
    except StreamCut:
        pass
    return out


def assert_is_record(event: LogEvent, rec: RunPodRecord) -> None:
    assert (event.seq, event.message, event.pod, event.stream, event.ts) == (
        rec.id,
        sanitize(rec.line),
        WORKERS[0],
        rec.source,
        parse_ts(rec.ts),
    )
    assert event.level == detect_level(rec.line)
    assert event.fields == {}


def since_start(rp: RunPodSim) -> str:
    return rp.record(0).ts


async def test_events_are_exactly_the_records_sent_in_order(sim: Simulator, client: httpx.AsyncClient) -> None:
    rp = sim.runpod
    events = await one_connection(make(sim, client, since=since_start(rp)), limit=120)
    assert len(events) == 120
    for i, event in enumerate(events):
        assert_is_record(event, rp.record(i))


async def test_tail_backfills_exactly_the_last_n_records(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.params.total = 50  # history is frozen at records 0..49; the stream ends after them
    rp = sim.runpod
    events = await one_connection(make(sim, client, tail=10))
    assert [e.seq for e in events] == [rp.record(i).id for i in range(40, 50)]


async def test_source_system_streams_only_system_records(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.params.total = 200
    rp = sim.runpod
    events = await one_connection(make(sim, client, source="system", since=since_start(rp)))
    expected = [rp.record(i) for i in range(200) if rp.record(i).source == "system"]
    assert len(expected) >= 5
    assert [(e.seq, e.stream, e.message) for e in events] == [(r.id, "system", r.line) for r in expected]


async def test_since_starts_at_the_first_record_at_or_after_it(sim: Simulator, client: httpx.AsyncClient) -> None:
    rp = sim.runpod
    events = await one_connection(make(sim, client, since=rp.record(30).ts), limit=5)
    assert [e.seq for e in events] == [rp.record(i).id for i in range(30, 35)]


async def test_reconnects_after_cuts_deliver_every_record_once_in_order(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    """Acceptance: 6 connections, each cut mid-frame after 60 records, make one gapless run of 360."""
    rp = sim.runpod
    rp.drop_after = 60
    rp.drop_partial = True  # each cut leaves the next frame's `id:` and `data:` behind, undispatched
    provider = make(sim, client, since=since_start(rp))
    events: list[LogEvent] = []
    connections = 0
    while len(events) < 360 and connections < 10:
        connections += 1
        events += await one_connection(provider)
    assert connections == 6
    assert len(events) == 360
    for i, event in enumerate(events):
        assert_is_record(event, rp.record(i))
    resumes = [r.last_event_id for r in list(rp.requests)[1:]]
    assert resumes == [rp.record(i).id for i in (59, 119, 179, 239, 299)]


async def test_resume_sends_last_event_id_when_records_share_a_second(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    rp = sim.runpod
    rp.drop_after = 25
    provider = make(sim, client, since=since_start(rp))
    first = await one_connection(provider)
    last = rp.record(24)
    same_second = [i for i in range(25) if rp.record(i).id.split("/")[0] == last.id.split("/")[0]]
    assert len(same_second) > 1  # a since=<second> resume could not tell these apart
    second = await one_connection(provider)
    assert first[-1].seq == last.id
    assert rp.requests[-1].last_event_id == last.id
    assert [e.seq for e in second] == [rp.record(i).id for i in range(25, 50)]


async def test_server_ignoring_last_event_id_yields_no_duplicates(sim: Simulator, client: httpx.AsyncClient) -> None:
    rp = sim.runpod
    rp.ignore_last_event_id = True  # it resumes from `since`, which replays the last record
    rp.drop_after = 40
    provider = make(sim, client, since=since_start(rp))
    events = await one_connection(provider) + await one_connection(provider) + await one_connection(provider)
    assert [e.seq for e in events] == [rp.record(i).id for i in range(len(events))]
    assert len(events) >= 118  # 40 + 39 + 39: each replayed boundary record was dropped


async def test_wrong_key_is_an_auth_error_naming_the_env_var_not_the_key(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    wrong = "rp_wrong_key_SECRET_987654"
    with pytest.raises(AuthError) as info:
        await one_connection(make(sim, client, key=wrong))
    message = str(info.value)
    assert "RUNPOD_API_KEY" in message
    assert "401" in message
    assert wrong not in message and KEY not in message


@pytest.mark.parametrize(
    ("endpoint_id", "worker_id"),
    [(ENDPOINT_ID, "worker_nope00"), ("ep_unknown000", WORKERS[0]), (ENDPOINT_ID, TERMINATED)],
    ids=["unknown-worker", "unknown-endpoint", "terminated-worker"],
)
async def test_missing_worker_is_not_found_saying_it_is_gone(
    sim: Simulator, client: httpx.AsyncClient, endpoint_id: str, worker_id: str
) -> None:
    with pytest.raises(NotFoundError) as info:
        await one_connection(make(sim, client, endpoint_id=endpoint_id, worker_id=worker_id))
    assert "gone or does not exist" in str(info.value)
    assert "worker not found" in str(info.value)


async def test_rate_limit_is_retryable_after_one_second(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.runpod.rate_limit_next = 1
    provider = make(sim, client, since=since_start(sim.runpod))
    with pytest.raises(RateLimited) as info:
        await one_connection(provider)
    assert info.value.retry_after == 1.0
    assert len(await one_connection(provider, limit=3)) == 3


async def test_retry_field_sets_retry_hint_in_seconds(sim: Simulator, client: httpx.AsyncClient) -> None:
    provider = make(sim, client, since=since_start(sim.runpod))
    await one_connection(provider, limit=1)
    assert provider.retry_hint == 3.0


async def test_truncated_data_frame_becomes_an_unparseable_event(sim: Simulator, client: httpx.AsyncClient) -> None:
    rp = sim.runpod
    rp.malformed = {5}
    events = await one_connection(make(sim, client, since=since_start(rp)), limit=10)
    broken = rp.record(5)
    assert events[5].fields["logview"] == "unparseable"
    assert events[5].fields["why"].startswith("not JSON (Unterminated string")
    assert events[5].level is Level.WARN
    assert events[5].seq == broken.id
    assert events[5].message == broken.payload()[: len(broken.payload()) // 2]
    for i in (*range(5), *range(6, 10)):
        assert_is_record(events[i], rp.record(i))


def decode_one(frame: bytes) -> LogEvent:
    provider = make(None, None)
    (ev,) = SSEDecoder().feed(frame)
    return provider.decode(ev)[0]


@pytest.mark.parametrize(
    "data",
    [
        "[1, 2]",
        '{"line": 5, "source": "container"}',
        '{"source": "container"}',
        '"just a string"',
        "null",
        '{"line": "x", "ts": 1700000000}',
        '{"line": "\\u001b]0;pwned\\u0007", "source": []}',
    ],
)
def test_wrong_shape_payload_becomes_an_unparseable_event(data: str) -> None:
    event = decode_one(f"id: 2026-06-01T12:05:04Z/000000000042\ndata: {data}\n\n".encode())
    assert (event.fields["logview"], event.level, event.seq) == (
        "unparseable",
        Level.WARN,
        "2026-06-01T12:05:04Z/000000000042",
    )
    assert event.fields["why"]
    assert event.message == sanitize(data)
    assert "\x1b]" not in event.message


def test_control_sequences_in_a_line_are_sanitized() -> None:
    event = decode_one(
        b'data: {"source": "container", "line": "\\u001b[31mred\\u001b[0m \\u001b]0;title\\u0007", "ts": "2026-06-01T12:05:04.5Z"}\n\n'
    )
    assert event.message == sanitize("\x1b[31mred\x1b[0m \x1b]0;title\x07")
    assert "\x07" not in event.message and "\x1b[31m" in event.message
    assert event.fields == {}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=200))
def test_any_data_decodes_without_raising_and_keeps_unparseable_data(data: str) -> None:
    event = decode_one(f"id: 1\ndata: {data}\n\n".encode())
    try:
        payload = json.loads(data)
    except ValueError:
        payload = None
    if (
        isinstance(payload, dict)
        and isinstance(payload.get("line"), str)
        and isinstance(payload.get("source"), str | None)
        and isinstance(payload.get("ts"), str | None)
    ):
        assert event.message == sanitize(payload["line"])
    else:
        assert (event.fields["logview"], event.message) == ("unparseable", sanitize(data))


async def test_sim_sends_sse_headers_retry_and_keepalives(sim: Simulator, client: httpx.AsyncClient) -> None:
    rp = sim.runpod
    rp.keepalive_interval = 0.02
    ahead = rp.record(sim.params.available() + 60).id  # ~150 ms of silence before the next record
    url = f"{sim.base_url}/v2/serverless/{ENDPOINT_ID}/workers/{WORKERS[0]}/logs"
    headers = {"Authorization": f"Bearer {KEY}", "Last-Event-ID": ahead}
    body = b""
    async with client.stream("GET", url, headers=headers) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["cache-control"] == "no-cache"
        assert resp.headers["x-accel-buffering"] == "no"
        async for chunk in resp.aiter_bytes():
            body += chunk
            if b"id: " in body:
                break
    assert body.startswith(b"retry: 3000\n\n")
    assert b": keepalive\n\n" in body.split(b"id: ")[0]


async def test_sim_rejects_tail_out_of_range_with_problem_details(sim: Simulator, client: httpx.AsyncClient) -> None:
    url = f"{sim.base_url}/v2/serverless/{ENDPOINT_ID}/workers/{WORKERS[0]}/logs"
    resp = await client.get(url, params={"tail": "5001"}, headers={"Authorization": f"Bearer {KEY}"})
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert (body["title"], body["status"]) == ("Bad Request", 400)
    assert body["errors"] == [{"field": "tail", "message": "must be an integer between 0 and 5000"}]


# --- redirects ------------------------------------------------------------------------


class RedirectServer:
    """A loopback HTTP server that answers every request with one redirect; keeps what it was sent."""

    def __init__(self, status: int, location: str | None) -> None:
        self.status, self.location = status, location
        self.requests: list[bytes] = []
        self.url = ""

    async def __aenter__(self) -> RedirectServer:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        location = f"Location: {self.location}\r\n" if self.location is not None else ""
        writer.write(
            f"HTTP/1.1 {self.status} Moved\r\n{location}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


async def redirected(status: int, location: str | None) -> tuple[str, RedirectServer]:
    async with RedirectServer(status, location) as server, httpx.AsyncClient(follow_redirects=False) as client:
        spec = RunPodSource(
            provider="runpod", name="sdxl", base_url=server.url, endpoint_id=ENDPOINT_ID, worker_id=WORKERS[0]
        )
        with pytest.raises(FatalSourceError) as err:
            await one_connection(RunPodProvider(spec, client, KEY))
    return str(err.value), server


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_names_the_host_it_points_to_and_is_not_followed(status: int) -> None:
    message, server = await redirected(status, "https://other.example:8443/v2/logs?token=s3cr3t-in-query#frag")
    assert f"the server redirected to other.example:8443 ({status} " in message
    assert "does not follow redirects" in message and "base_url" in message
    assert "s3cr3t" not in message and "token" not in message and "/v2/logs" not in message
    assert len(server.requests) == 1  # nothing was sent to the other host, or again


async def test_a_relative_redirect_names_the_same_host() -> None:
    message, server = await redirected(302, "/moved-here?sig=abcdef")
    assert "the server redirected to 127.0.0.1:" in message
    assert "abcdef" not in message and "moved-here" not in message
    assert len(server.requests) == 1


@pytest.mark.parametrize("location", [None, ""])
async def test_a_redirect_without_a_usable_location_still_says_what_to_do(location: str | None) -> None:
    message, _ = await redirected(302, location)
    assert "without a usable Location" in message and "base_url" in message


# --- the fast paths agree with the plain ones ---------------------------------------

_JSON_VALUES = st.sampled_from(
    [
        *('"a"', '"é"', '"\\u001b]0;x\\u0007"', '"\\ud800"', "null", "5", "[]", '{"y": null}', "NaN", "1e999"),
        *('"2026-06-01T12:05:04.5Z"', '"2026-06-01T12:05:60Z"', '"nope"', '"\x01"'),
    ]
)
_OBJECTS = st.lists(st.tuples(st.sampled_from(["line", "source", "ts", "n"]), _JSON_VALUES), max_size=5).map(
    lambda kv: "{" + ", ".join(f'"{k}": {v}' for k, v in kv) + "}"
)
_PAYLOADS = st.one_of(
    _OBJECTS,
    _OBJECTS.map(lambda s: f" {s}\t"),
    _OBJECTS.map(lambda s: s[:-1]),
    _OBJECTS.map(lambda s: s + " x"),
    _OBJECTS.map(lambda s: f"[{s}]"),
    st.text(max_size=20),
)
"""Payloads right and wrong in every way: types, duplicate keys, NaN, lone surrogates, junk around them."""


@settings(max_examples=500, deadline=None)
@given(_PAYLOADS)
def test_the_fast_decoder_gives_what_json_gives(data: str) -> None:
    """msgspec reads the payload when it can; what it gives (or refuses) must match the json reading."""
    provider = make(None, None)
    ev = SSEvent("message", data, "2026-06-01T12:05:04Z/000000000042", None)
    now = parse_ts("2026-06-01T13:00:00Z")
    assert provider.decode(ev, now) == provider._decode_json(ev, now)


_IDS = st.sampled_from(
    [
        None,
        "2026-06-01T12:05:04Z/000000000001",
        "2026-06-01T12:05:04Z/000000000002",
        "2026-06-01T12:05:05Z/000000000003",
        "2026-06-01T12:05:04Z",
        "2026-06-01T12:05:05Z",
        "opaque",
        "x/1",
    ]
)
_TIMES = st.sampled_from([None, "2026-06-01T12:05:04.1Z", "2026-06-01T12:05:04.2Z", "2026-06-01T12:05:06Z", "bad"])
_FRAMES = st.lists(
    st.builds(
        lambda id_, ts, n: SSEvent("message", json.dumps({"line": f"l{n}", "ts": ts}), id_, None),
        _IDS,
        _TIMES,
        st.integers(0, 3),
    ),
    max_size=14,
)


@settings(max_examples=300, deadline=None)
@given(_FRAMES, st.data())
def test_the_resume_state_is_the_same_however_the_records_are_chunked(
    frames: list[SSEvent], data: st.DataObject
) -> None:
    """Worked out once per chunk from its end, the cursor must be what record-by-record books would give."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(frames)), max_size=4)))
    chunked, single = make(None, None), make(None, None)
    for a, b in itertools.pairwise([0, *cuts, len(frames)]):
        chunked.decode_frames(frames[a:b])
    for ev in frames:
        single.decode_frames([ev])

    def state(p: RunPodProvider) -> tuple[Any, ...]:
        return (p._cursor, p._last_ts, p._last_pos, p._at_last, p._delivered)

    assert state(chunked) == state(single)
    # a resumed connection replaying the last records drops the same ones either way
    chunked._boundary = single._boundary = True
    replay = frames[-3:]
    assert [e.seq for e in chunked.decode_frames(replay)] == [e.seq for e in single.decode_frames(replay)]
