"""The Streamer against the simulator over loopback: states, retries, batching, no loss.

Every source runs as it would for a user: real HTTP, real cuts, real error
answers; only the backoff is shortened so reconnects take milliseconds.
"""

from __future__ import annotations

import asyncio
import random
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import pytest

from logview.config import ChronoverseSource, RunPodSource, StdinSource
from logview.model import Item, LogEvent, SourceStatus, State
from logview.providers.base import Provider
from logview.sim.chronoverse import RUNNING_JOB_ID, WORKFLOW_ID
from logview.sim.runpod import ENDPOINT_ID, TERMINATED, WORKERS
from logview.sim.server import SimParams, Simulator
from logview.streaming import Backoff, Streamer

RUNPOD_ENV = "LOGVIEW_DEMO_RUNPOD_KEY"
WRONG_KEY = "rp_wrong_key_5f4e3d2c1b"


@pytest.fixture(autouse=True)
def demo_keys(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if "sim" not in request.fixturenames:
        return
    sim: Simulator = request.getfixturevalue("sim")
    for name, value in sim.demo_env().items():
        monkeypatch.setenv(name, value)
    sim.runpod.retry_ms = 10  # the SSE `retry:` the first reconnect honours


def fast() -> Backoff:
    return Backoff(base=0.01, cap=0.05)


def runpod(sim: Simulator, name: str = "rp", **kw: Any) -> RunPodSource:
    fields: dict[str, Any] = {"endpoint_id": ENDPOINT_ID, "worker_id": WORKERS[0], **kw}
    return RunPodSource(provider="runpod", name=name, base_url=sim.base_url, api_key_env=RUNPOD_ENV, **fields)


def chronoverse(sim: Simulator) -> ChronoverseSource:
    return ChronoverseSource(
        provider="chronoverse",
        name="cv",
        base_url=sim.base_url,
        workflow_id=WORKFLOW_ID,
        job_id=RUNNING_JOB_ID,
        api_key_env="LOGVIEW_DEMO_CHRONOVERSE_KEY",
    )


def demo(sim: Simulator, provider: str) -> Any:
    (spec,) = [s for s in sim.demo_specs() if s.provider == provider]
    return spec


@dataclass
class Run:
    batches: list[list[Item]] = field(default_factory=list)
    finished: bool = False
    """batches() ended by itself (every source stopped)."""

    @property
    def items(self) -> Iterator[Item]:
        return (item for batch in self.batches for item in batch)

    def statuses(self, source: str) -> list[SourceStatus]:
        return [i for i in self.items if isinstance(i, SourceStatus) and i.source == source]

    def states(self, source: str) -> list[State]:
        return [s.state for s in self.statuses(source)]

    def events(self, source: str) -> list[LogEvent]:
        return [i for i in self.items if isinstance(i, LogEvent) and i.source == source]


async def run(streamer: Streamer, until: Callable[[Run], bool], timeout: float = 8.0, **kw: Any) -> Run:
    """Consume batches until `until` holds or batches() ends by itself."""
    result = Run()
    async with asyncio.timeout(timeout), aclosing(streamer.batches(**kw)) as batches:
        async for batch in batches:
            result.batches.append(batch)
            if until(result):
                return result
    result.finished = True
    return result


# --- states ---------------------------------------------------------------------------


async def test_a_cut_source_goes_connecting_live_reconnecting_live(sim: Simulator) -> None:
    sim.runpod.drop_after = 30
    streamer = Streamer([runpod(sim)], backoff=fast())
    result = await run(streamer, lambda r: r.states("rp").count(State.LIVE) >= 2)
    connecting, live, reconnecting, relive = result.statuses("rp")[:4]
    assert [s.state for s in (connecting, live, reconnecting, relive)] == [
        State.CONNECTING,
        State.LIVE,
        State.RECONNECTING,
        State.LIVE,
    ]
    assert live.message == "live"
    assert reconnecting.message.startswith("connection lost")
    assert reconnecting.message.endswith(f"reconnecting in {reconnecting.delay:.1f}s")
    assert (reconnecting.attempt, reconnecting.delay) == (1, 0.01)  # the server's `retry: 10`
    assert relive.message.startswith("reconnected after ")
    assert relive.attempt == 1


async def test_states_holds_the_latest_state_of_each_source(sim: Simulator) -> None:
    streamer = Streamer([runpod(sim)], backoff=fast())
    await run(streamer, lambda r: State.LIVE in r.states("rp"))
    assert streamer.states["rp"].state is State.LIVE


async def test_repeated_cuts_back_off_further_each_time(sim: Simulator) -> None:
    sim.runpod.drop_after = 5
    streamer = Streamer([runpod(sim)], backoff=Backoff(base=0.01, cap=10, rng=random.Random(1)))
    result = await run(streamer, lambda r: r.states("rp").count(State.RECONNECTING) >= 4)
    delays = [s.delay for s in result.statuses("rp") if s.state is State.RECONNECTING][:4]
    assert [s.attempt for s in result.statuses("rp") if s.state is State.RECONNECTING][:4] == [1, 2, 3, 4]
    assert delays[0] == 0.01  # the server's retry: for the first
    assert all(
        d is not None and 0.01 * 2 ** (n - 1) * 0.5 <= d <= 0.01 * 2 ** (n - 1) for n, d in enumerate(delays[1:], 2)
    )


async def test_a_wrong_key_fails_once_without_retrying_while_others_stream(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RUNPOD_ENV, WRONG_KEY)
    streamer = Streamer([runpod(sim), chronoverse(sim)], backoff=fast())

    def cv_after_failure(r: Run) -> bool:
        items = list(r.items)
        failed = [n for n, i in enumerate(items) if isinstance(i, SourceStatus) and i.state is State.FAILED]
        return bool(failed) and sum(isinstance(i, LogEvent) and i.source == "cv" for i in items[failed[0] :]) >= 20

    result = await run(streamer, cv_after_failure)
    assert result.states("rp") == [State.CONNECTING, State.FAILED]
    failed = result.statuses("rp")[-1]
    assert RUNPOD_ENV in failed.message
    assert WRONG_KEY not in failed.message
    assert streamer.states["cv"].state is State.LIVE


async def test_a_wrong_key_is_asked_for_once(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUNPOD_ENV, WRONG_KEY)
    result = await run(Streamer([runpod(sim)], backoff=fast()), lambda r: False)
    assert result.finished
    assert len(sim.runpod.requests) == 1


async def test_an_unknown_worker_fails_as_not_found(sim: Simulator) -> None:
    result = await run(Streamer([runpod(sim, worker_id=TERMINATED)], backoff=fast()), lambda r: False)
    assert result.finished
    assert result.states("rp") == [State.CONNECTING, State.FAILED]
    assert result.statuses("rp")[-1].message.startswith("not found (404 Not Found")


async def test_retry_after_of_a_429_is_the_reconnect_delay(sim: Simulator) -> None:
    sim.runpod.rate_limit_next = 1
    result = await run(Streamer([runpod(sim)], backoff=Backoff(base=0.01)), lambda r: State.LIVE in r.states("rp"))
    assert result.states("rp") == [State.CONNECTING, State.RECONNECTING, State.LIVE]
    reconnecting = result.statuses("rp")[1]
    assert reconnecting.delay == 1.0
    assert reconnecting.message.startswith("rate limited (429 Too Many Requests")


async def test_a_missing_credential_fails_naming_the_env_var(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNPOD_ENV)
    result = await run(Streamer([runpod(sim)], backoff=fast()), lambda r: False)
    assert result.states("rp") == [State.CONNECTING, State.FAILED]
    assert RUNPOD_ENV in result.statuses("rp")[-1].message
    assert len(sim.runpod.requests) == 0  # nothing was sent


async def test_a_slow_key_command_does_not_hold_up_other_sources(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RUNPOD_ENV)
    slow = f"{shlex.quote(sys.executable)} -c \"import time; time.sleep(1.0); print('{sim.demo_env()[RUNPOD_ENV]}')\""
    streamer = Streamer([runpod(sim, api_key_command=slow), chronoverse(sim)], backoff=fast())
    result = await run(streamer, lambda r: len(r.events("cv")) >= 5 or State.LIVE in r.states("rp"))
    assert len(result.events("cv")) >= 5
    assert result.states("rp") == [State.CONNECTING]


async def test_a_chronoverse_job_end_ends_the_source_and_the_batches(sim: Simulator) -> None:
    sim.chronoverse.job.length = 120
    result = await run(Streamer([chronoverse(sim)], backoff=fast()), lambda r: False)
    assert result.finished
    assert result.states("cv")[-1] is State.ENDED
    assert [e.seq for e in result.events("cv")] == list(range(120))


async def test_batches_go_on_until_the_last_source_stops(sim: Simulator) -> None:
    sim.chronoverse.job.length = 60
    streamer = Streamer([chronoverse(sim), runpod(sim)], backoff=fast())
    result = await run(streamer, lambda r: State.ENDED in r.states("cv") and len(r.events("rp")) >= 200)
    assert not result.finished
    assert streamer.states["rp"].state is State.LIVE


async def test_an_adapter_bug_fails_only_its_own_source(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(Provider):
        kind = "stdin"

        async def connect(self) -> Any:
            raise ZeroDivisionError("oops")
            yield  # pragma: no cover - makes this an async generator

    monkeypatch.setattr("logview.streaming.create", lambda spec, client, secret: Broken(spec, client, secret))
    result = await run(Streamer([StdinSource(provider="stdin", name="in")]), lambda r: False)
    assert result.states("in") == [State.CONNECTING, State.FAILED]
    assert result.statuses("in")[-1].message == "internal error: ZeroDivisionError: oops"


async def test_retry_brings_a_failed_source_back(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUNPOD_ENV, WRONG_KEY)
    streamer = Streamer([runpod(sim)], backoff=fast())

    def fix_and_retry(r: Run) -> bool:
        if r.states("rp")[-1:] == [State.FAILED]:
            monkeypatch.setenv(RUNPOD_ENV, sim.demo_env()[RUNPOD_ENV])
            assert streamer.retry("rp")
        return State.LIVE in r.states("rp")

    result = await run(streamer, fix_and_retry, forever=True)
    assert result.states("rp") == [State.CONNECTING, State.FAILED, State.CONNECTING, State.LIVE]


async def test_retry_of_an_unknown_source_is_refused(sim: Simulator) -> None:
    assert Streamer([runpod(sim)]).retry("nope") is False


async def test_forever_batches_end_at_close(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNPOD_ENV)
    streamer = Streamer([runpod(sim)], backoff=fast())

    def close_after_failure(r: Run) -> bool:
        if State.FAILED in r.states("rp"):
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(streamer.close()))
        return False

    result = await run(streamer, close_after_failure, timeout=3, forever=True)
    assert result.finished


# --- batching ---------------------------------------------------------------------------


async def test_no_batch_is_larger_than_batch_size(sim: Simulator) -> None:
    streamer = Streamer([runpod(sim, tail=200), demo(sim, "fal")], batch_size=10, backoff=fast())
    result = await run(streamer, lambda r: sum(len(b) for b in r.batches) >= 400)
    assert max(len(b) for b in result.batches) == 10


async def test_items_arriving_within_the_interval_share_a_batch(sim: Simulator) -> None:
    streamer = Streamer([runpod(sim, tail=50)], batch_interval=0.5, backoff=fast())
    result = await run(streamer, lambda r: True)
    first = result.batches[0]
    assert [i.state for i in first[:2] if isinstance(i, SourceStatus)] == [State.CONNECTING, State.LIVE]
    assert sum(isinstance(i, LogEvent) for i in first) >= 50


async def test_items_not_yet_batched_can_be_drained_after_a_stop(sim: Simulator) -> None:
    streamer = Streamer([runpod(sim, tail=50)], batch_interval=30, backoff=fast())
    batches = streamer.batches()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(batches), timeout=0.5)  # stopped inside the long interval
    rest = streamer.drain()
    assert [i.state for i in rest if isinstance(i, SourceStatus)][:2] == [State.CONNECTING, State.LIVE]
    assert sum(isinstance(i, LogEvent) for i in rest) >= 50
    assert streamer.drain() == []


# --- no loss ---------------------------------------------------------------------------


async def test_every_record_arrives_once_in_order_across_cuts(sim: Simulator) -> None:
    rp = sim.runpod
    rp.drop_after = 40
    streamer = Streamer([runpod(sim, since=rp.record(0).ts)], batch_size=7, backoff=fast())
    result = await run(streamer, lambda r: len(r.events("rp")) >= 400)
    assert result.states("rp").count(State.RECONNECTING) >= 9
    events = result.events("rp")[:400]
    assert [(e.seq, e.message) for e in events] == [(rp.record(i).id, rp.record(i).line) for i in range(400)]


# --- backoff ----------------------------------------------------------------------------


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_backoff_doubles_with_each_attempt() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=FixedRandom(1.0))
    assert [backoff.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_backoff_is_capped() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=FixedRandom(1.0))
    assert backoff.delay(7) == backoff.delay(100) == 60.0


def test_backoff_jitter_stays_between_half_and_the_full_delay() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=random.Random(3))
    delays = [backoff.delay(4) for _ in range(2000)]
    assert all(4.0 <= d <= 8.0 for d in delays)
    assert max(delays) - min(delays) > 3.0  # it really is spread out


def test_backoff_takes_the_servers_hint_over_its_own_delay() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=FixedRandom(1.0))
    assert backoff.delay(6, hint=1.5) == 1.5
    assert backoff.delay(1, hint=7.0) == 7.0


def test_backoff_bounds_an_absurd_hint() -> None:
    assert Backoff(base=1.0, cap=60.0).delay(1, hint=86_400.0) == 300.0


# --- fairness ---------------------------------------------------------------------------


async def test_a_flooding_source_never_holds_back_a_quiet_one(sim: Simulator) -> None:
    """One source streams a 20,000-record backlog as fast as it can, the other 20 records/s.

    The quiet source's items are never still waiting when a batch comes out:
    each lands in the batch right after it arrived, while the flood waits its
    turn (held back, not dropped). Both arrive complete and in order.
    """
    flood_params = SimParams(seed=5, rate=400.0, t0=time.time(), backlog=20_000)
    quiet_params = SimParams(seed=6, rate=20.0, t0=time.time(), backlog=0)
    with Simulator(flood_params) as flood_sim, Simulator(quiet_params) as quiet_sim:
        fr, qr = flood_sim.runpod, quiet_sim.runpod
        streamer = Streamer(
            [runpod(flood_sim, "flood", since=fr.record(0).ts), runpod(quiet_sim, "quiet", tail=0)],
            batch_size=50,
            batch_interval=0.0,
            max_pending=500,
            backoff=fast(),
        )
        result = Run()
        quiet_waiting: list[int] = []
        flood_waiting: list[int] = []
        async with asyncio.timeout(20), aclosing(streamer.batches()) as batches:
            async for batch in batches:
                result.batches.append(batch)
                quiet_waiting.append(streamer.queued("quiet"))
                flood_waiting.append(streamer.queued("flood"))
                if len(result.events("quiet")) >= 8:
                    break
                await asyncio.sleep(0.002)  # a consumer slower than the flood, as a screen is
        assert max(len(b) for b in result.batches) <= 50
        # the flood was backlogged (so the quiet source had to share batches with it) ...
        assert max(flood_waiting) >= 50
        # ... and held back by its own limit, not by dropping
        assert max(flood_waiting) < 500 + 1_000  # a chunk's worth over the limit at most
        # each quiet item came out in the first batch after it arrived
        assert quiet_waiting == [0] * len(result.batches)
        flood_events = result.events("flood")
        assert [e.seq for e in flood_events] == [fr.record(i).id for i in range(len(flood_events))]
        quiet_events = result.events("quiet")
        first = next(i for i in range(10_000) if qr.record(i).id == quiet_events[0].seq)
        assert [e.seq for e in quiet_events] == [qr.record(first + i).id for i in range(len(quiet_events))]
        # the quiet lines came out while the flood had a backlog waiting
        assert (
            sum(
                1
                for b, waiting in zip(result.batches, flood_waiting, strict=True)
                if waiting >= 50 and any(isinstance(i, LogEvent) and i.source == "quiet" for i in b)
            )
            >= 3
        )
