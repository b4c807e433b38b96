"""Never lose a line, never repeat one: every provider through seeded chaos.

Each test runs one simulated provider with the chaos layer on, reconnects
its adapter at once after every retryable error (as the streamer does,
without the backoff), and compares what was delivered with what the server
emitted: the same records, each once, in order. Where loss cannot be
avoided (a buffer or a tail that moved on), the adapter must say so.
"""

from __future__ import annotations

import asyncio
import time
from typing import TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logview.model import State
from logview.providers.base import Provider
from logview.sim.audit import AUDITS, Audit, Run, drive, prepare
from logview.sim.chaos import FRAME_FAULTS, Chaos, ChaosSpec
from logview.sim.server import SimParams, Simulator

P = TypeVar("P", bound=Provider)

N = 10_000
"""Records per no-loss run."""


CV_RATE = 1500.0
"""Chronoverse's records per second in these runs. Faults hit only its live stream;
the history read after each reconnect (fault-free) covers the lines produced
meanwhile. Faster than history pages can be read on a busy machine, and most
records would come from history, past the faults a test means to inject."""


def quick(cls: type[P], seconds: float) -> type[P]:
    """The adapter class with a short stall timeout, so a half-open connection shows in a test."""
    return type(f"Quick{cls.__name__}", (cls,), {"stall_timeout": seconds})


async def run_audit(
    name: str, spec: str, *, n: int = N, rate: float = 5000.0, stall_timeout: float = 0.25, timeout: float = 45.0
) -> tuple[Audit, Run, Simulator]:
    """Stream n records of one provider through chaos; returns what was delivered."""
    with Simulator(SimParams(seed=11, rate=rate, t0=time.time()), chaos=ChaosSpec.parse(spec)) as sim:
        prepare(sim, n)
        if name == "goldrush":
            sim.goldrush.tail_lines = 1_000  # the overlap must outlast a fault
        async with httpx.AsyncClient() as client:
            audit = AUDITS[name](sim, client, n)
            base = type(audit.provider())
            provider = audit.provider(quick(base, stall_timeout) if base.stall_timeout is not None else base)
            run = await drive(provider, audit.complete, timeout)
    return audit, run, sim


def chaos_of(sim: Simulator, name: str) -> Chaos:
    chaos = getattr(sim, name).chaos
    assert isinstance(chaos, Chaos)
    return chaos


def assert_no_loss(audit: Audit, run: Run, sim: Simulator, *, min_faults: int = 20) -> None:
    chaos = chaos_of(sim, audit.name)
    verdict = audit.verdict(run)
    assert chaos.total >= min_faults, dict(chaos.injected)
    assert (verdict.lost, verdict.repeated, verdict.in_order) == (0, 0, True), (verdict, dict(chaos.injected))
    assert [s for s in run.statuses if s.state is State.GAP] == []
    if audit.name in ("runpod", "fal", "chronoverse"):  # each malformed SSE frame is shown once, as such
        assert len(run.garbage) == chaos.injected["malformed"]


@pytest.mark.timeout(60)
async def test_runpod_delivers_every_record_once_in_order_through_chaos() -> None:
    audit, run, sim = await run_audit(
        "runpod", "cut=0.002,stall=0.0003:0.6,status=0.1,malformed=0.001,drip=0.002,noise=0.003,seed=1"
    )
    assert_no_loss(audit, run, sim)


@pytest.mark.timeout(60)
async def test_fal_delivers_every_entry_once_in_order_through_chaos() -> None:
    audit, run, sim = await run_audit(
        "fal", "cut=0.002,stall=0.0003:0.6,status=0.1,malformed=0.001,drip=0.002,noise=0.003,seed=2"
    )
    assert_no_loss(audit, run, sim)


@pytest.mark.timeout(60)
async def test_chronoverse_delivers_every_sequence_number_once_through_chaos() -> None:
    audit, run, sim = await run_audit(
        "chronoverse", "cut=0.01,stall=0.002:0.6,status=0.1,malformed=0.005,drip=0.01,noise=0.01,seed=3", rate=CV_RATE
    )
    assert_no_loss(audit, run, sim)


@pytest.mark.timeout(60)
async def test_feldera_replays_are_deduped_to_every_line_once_through_chaos() -> None:
    audit, run, sim = await run_audit("feldera", "cut=0.01,stall=0.005:0.2,status=0.2,drip=0.01,seed=4", rate=3000.0)
    # faults are drawn per chunk sent, and a loaded machine sends fewer, bigger chunks
    assert_no_loss(audit, run, sim, min_faults=5)


@pytest.mark.timeout(60)
async def test_goldrush_overlapping_tails_give_every_line_once_through_chaos() -> None:
    audit, run, sim = await run_audit(
        "goldrush", "cut=0.12,stall=0.04:0.5,status=0.15,malformed=0.12,drip=0.12,seed=5", rate=1200.0
    )
    assert_no_loss(audit, run, sim)


# --- fault schedules chosen by hypothesis --------------------------------------------------

FAULT = st.one_of(st.sampled_from(FRAME_FAULTS), st.sampled_from(["status:429", "status:500", "status:503"]))
SCHEDULE = st.lists(st.tuples(st.integers(0, 300), FAULT), min_size=20, max_size=30)


async def scheduled(
    name: str, plan: list[tuple[int, str]], n: int = 3_000, rate: float = 5000.0
) -> tuple[Audit, Run, Simulator]:
    """A run whose connections take the faults of `plan` one by one (then none)."""
    with Simulator(SimParams(seed=12, rate=rate, t0=time.time()), chaos=ChaosSpec(stall_seconds=0.5)) as sim:
        prepare(sim, n)
        chaos_of(sim, name).plan.extend(plan)
        async with httpx.AsyncClient() as client:
            audit = AUDITS[name](sim, client, n)
            provider = audit.provider(quick(type(audit.provider()), 0.2))
            run = await drive(provider, audit.complete, 30.0)
    return audit, run, sim


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=SCHEDULE)
def test_runpod_no_loss_under_any_fault_schedule(plan: list[tuple[int, str]]) -> None:
    audit, run, sim = asyncio.run(scheduled("runpod", plan))
    assert_no_loss(audit, run, sim, min_faults=0)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=SCHEDULE)
def test_fal_no_loss_under_any_fault_schedule(plan: list[tuple[int, str]]) -> None:
    audit, run, sim = asyncio.run(scheduled("fal", plan))
    assert_no_loss(audit, run, sim, min_faults=0)


# --- stalls: a half-open connection is noticed, and the next one resumes ---------------------


@pytest.mark.parametrize("name", ["runpod", "fal", "chronoverse"])
async def test_half_open_connection_is_stalled_and_the_next_resumes_with_nothing_lost(name: str) -> None:
    audit, run, _ = await scheduled(name, [(40, "stall")], n=400, rate=500.0 if name == "chronoverse" else 5000.0)
    assert run.errors == {"Stalled": 1}
    assert run.connections == 2
    assert audit.complete(run)
    assert audit.verdict(run).exact


def test_sse_stall_timeouts_outlast_the_heartbeats_they_wait_for() -> None:
    """A stall timeout shorter than the heartbeat interval would cut healthy idle streams."""
    from logview.providers.fal import FalProvider
    from logview.providers.feldera import FelderaProvider
    from logview.providers.goldrush import GoldRushProvider
    from logview.providers.runpod import RunPodProvider
    from logview.sim.fal import FalSim
    from logview.sim.runpod import RunPodSim

    params = SimParams()
    for provider, heartbeat in (
        (RunPodProvider, RunPodSim(params, "k").keepalive_interval),
        (FalProvider, FalSim(params, "k").heartbeat),
    ):
        assert provider.stall_timeout is not None
        assert 2 * heartbeat <= provider.stall_timeout <= 3 * heartbeat
    assert FelderaProvider.stall_timeout is None  # silence is normal there
    assert GoldRushProvider.stall_timeout == 30.0  # one short request


# --- where loss cannot be avoided, it is said ------------------------------------------------


async def test_feldera_buffer_rotating_past_a_reconnecting_client_is_a_gap_saying_how_many() -> None:
    with Simulator(SimParams(seed=13, rate=2000.0, t0=time.time()), chaos=ChaosSpec()) as sim:
        prepare(sim, 3_000)
        fd = sim.feldera
        fd.capacity_lines = 300
        chaos_of(sim, "feldera").plan.append((3, "cut"))  # the first connection drops after a few writes
        async with httpx.AsyncClient() as client:
            audit = AUDITS["feldera"](sim, client, 3_000)
            provider = audit.provider()
            first = await drive(provider, lambda r: r.connections > 1, 10.0)
            await asyncio.sleep(0.5)  # ~1,000 records go by: more than the buffer holds
            rest = await drive(provider, audit.complete, 20.0)
    gaps = [s for s in rest.statuses if s.state is State.GAP]
    assert len(gaps) == 1
    assert "rotated out of the server's log buffer" in gaps[0].message
    delivered = [audit.key(e)[1] for e in first.events + rest.events]
    want = audit.expected()[""]
    cut = len(first.events)
    assert delivered[:cut] == want[:cut]
    assert "prior log lines were discarded" in str(delivered[cut])  # the server's own notice, shown
    tail = delivered[cut + 1 :]
    assert tail == want[len(want) - len(tail) :]  # nothing repeated after the gap, the rest complete
    assert len(delivered) < len(want)


async def test_goldrush_tail_moving_on_during_a_stall_is_a_gap_for_that_pod() -> None:
    with Simulator(SimParams(seed=14, rate=1000.0, t0=time.time()), chaos=ChaosSpec(stall_seconds=1.0)) as sim:
        prepare(sim, 3_000)
        gr = sim.goldrush
        gr.tail_lines = 100
        gr.deploy_records = 0
        async with httpx.AsyncClient() as client:
            audit = AUDITS["goldrush"](sim, client, 3_000)
            provider = audit.provider()
            run = await drive(provider, lambda r: len(r.events) >= 200, 10.0)
            chaos_of(sim, "goldrush").plan.append((0, "stall"))  # the next poll waits 1 s: ~500 lines per pod go by
            run2 = await drive(provider, lambda r: any(s.state is State.GAP for s in r.statuses), 10.0)
    gaps = [s for s in run2.statuses if s.state is State.GAP]
    assert gaps and all(g.pod and "may be missing: the tail moved on between polls" in g.message for g in gaps)
    assert all(g.gap_from is not None and g.gap_to is not None and g.gap_from <= g.gap_to for g in gaps)
    verdict = audit.verdict(Run(events=run.events + run2.events))
    assert verdict.repeated == 0
