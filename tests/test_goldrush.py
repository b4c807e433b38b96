"""GoldRush: overlapping pod tails become each line once; pods, gaps, status, errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logview.config import GoldRushSource
from logview.errors import AuthError, FatalSourceError, NotFoundError, RetryableError, ServerError
from logview.model import Item, LogEvent, SourceStatus, State
from logview.providers.goldrush import GoldRushProvider, overlap_is_sure, split_tail, tail_error, tail_overlap
from logview.sim.goldrush import DEMO_PIPELINE, TAIL_ERROR, GoldRushSim
from logview.sim.server import DEMO_KEYS, SimParams, Simulator
from logview.text import sanitize, split_leading_ts

E = TypeVar("E", bound=Exception)

# --- the overlap, on lists --------------------------------------------------------


def _brute_overlap(old: list[str], new: list[str]) -> int:
    return max(k for k in range(min(len(old), len(new)) + 1) if k == 0 or old[-k:] == new[:k])


def test_overlap_is_zero_when_tails_share_nothing() -> None:
    assert tail_overlap(["a", "b"], ["c", "d"]) == 0


def test_overlap_finds_the_shared_middle() -> None:
    assert tail_overlap(["a", "b", "c"], ["b", "c", "d"]) == 2


def test_overlap_of_identical_consecutive_tails_is_all_of_it() -> None:
    tail = ["x", "y", "x", "y"]
    assert tail_overlap(tail, list(tail)) == 4


def test_overlap_takes_the_longest_match_among_repeated_lines() -> None:
    assert tail_overlap(["x", "B", "B"], ["B", "B", "B", "y"]) == 2
    assert tail_overlap(["B", "B", "B"], ["B", "B", "y"]) == 2


def test_overlap_of_single_lines() -> None:
    assert tail_overlap(["a"], ["a"]) == 1
    assert tail_overlap(["a"], ["b"]) == 0
    assert tail_overlap([], ["a"]) == 0
    assert tail_overlap(["a"], []) == 0


def test_overlap_when_the_new_tail_is_shorter() -> None:
    assert tail_overlap(["a", "b", "c", "d"], ["c", "d"]) == 2


@given(st.lists(st.sampled_from("ab"), max_size=12), st.lists(st.sampled_from("ab"), max_size=12))
def test_overlap_equals_the_longest_suffix_prefix_match(old: list[str], new: list[str]) -> None:
    assert tail_overlap(old, new) == _brute_overlap(old, new)


def test_an_overlap_of_lines_printed_many_times_is_not_sure_when_short() -> None:
    idle = "waiting for new blocks..."
    new = [idle, "t1 a", "t2 b", idle, "t3 c", "t4 d"]
    assert not overlap_is_sure(new, 1)  # the old tail ended with the idle line: maybe by chance
    assert overlap_is_sure(["t0 z", *new], 1)  # a line found once: the tails do overlap
    assert overlap_is_sure([idle, idle, idle, "x"], 3)  # half the window or more: sure
    assert overlap_is_sure(["a", "b"], 1)


def test_split_tail_drops_only_the_piece_after_the_final_newline() -> None:
    assert split_tail("a\n\nb\n") == ["a", "", "b"]
    assert split_tail("a\r\nb") == ["a", "b"]
    assert split_tail("") == []


def test_tail_error_recognises_runtime_errors_not_log_lines() -> None:
    assert tail_error(TAIL_ERROR + "\n") == TAIL_ERROR
    assert tail_error("2026-11-23T10:00:01Z ERROR sink: container not found") is None
    assert tail_error("unable to upgrade connection\nsecond line") is None


# --- against the simulator ------------------------------------------------------------


@pytest.fixture
def sim_params() -> SimParams:
    """800 records/s over two pods, 800 in all: about 1 s of live pipeline."""
    return SimParams(seed=42, rate=800.0, total=800, t0=time.time(), backlog=20)


@pytest.fixture
def gr(sim: Simulator) -> GoldRushSim:
    sim.goldrush.replace_every = None  # tests replace pods themselves
    return sim.goldrush


def _provider(
    sim: Simulator,
    client: httpx.AsyncClient,
    secret: str = DEMO_KEYS["goldrush"],
    pipeline_id: str = DEMO_PIPELINE,
    poll: float = 0.02,
) -> GoldRushProvider:
    spec = GoldRushSource(
        provider="goldrush", name="gr", base_url=sim.base_url, pipeline_id=pipeline_id, poll_interval=poll
    )
    return GoldRushProvider(spec, client, secret)


class Run:
    """Drives connect() like the streamer does (reconnecting at once) and keeps everything."""

    def __init__(self, provider: GoldRushProvider) -> None:
        self.provider = provider
        self.items: list[Item] = []
        self.errors: list[Exception] = []
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                async for item in self.provider.connect():
                    self.items.append(item)
            except RetryableError as e:
                self.errors.append(e)
            except FatalSourceError as e:
                self.errors.append(e)
                return

    def lines(self, pod: str) -> list[str]:
        return [i.message for i in self.items if isinstance(i, LogEvent) and i.pod == pod]

    def events(self, pod: str) -> list[LogEvent]:
        return [i for i in self.items if isinstance(i, LogEvent) and i.pod == pod]

    def statuses(self, state: State, pod: str | None = None) -> list[SourceStatus]:
        return [
            i for i in self.items if isinstance(i, SourceStatus) and i.state is state and (pod is None or i.pod == pod)
        ]

    async def until(self, cond: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, "timed out"
            assert not self.task.done(), f"the provider stopped: {self.errors}"
            await asyncio.sleep(0.01)


@pytest.fixture
async def run(sim: Simulator, gr: GoldRushSim, client: httpx.AsyncClient) -> AsyncIterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(poll: float = 0.02) -> Run:
        r = Run(_provider(sim, client, poll=poll))
        runs.append(r)
        return r

    yield start
    for r in runs:
        r.task.cancel()
    await asyncio.gather(*(r.task for r in runs), return_exceptions=True)


def _sent(gr: GoldRushSim, pod: str, n: int | None = None) -> list[str]:
    return [sanitize(line) for line in gr.pod_lines(pod, n)]


async def test_every_line_arrives_once_across_overlapping_polls_and_failed_polls(
    gr: GoldRushSim, run: Callable[..., Run]
) -> None:
    gr.fail_every = 5  # every fifth logs request is a 503: the session ends, the next resumes
    r = run(poll=0.05)
    pods = [p.name for p in gr.pods(800)]
    await r.until(lambda: all(len(r.lines(p)) >= len(gr.pod_lines(p, 800)) for p in pods), timeout=10)
    await asyncio.sleep(0.15)  # a few more polls of unchanged tails add nothing
    for p in pods:
        assert r.lines(p) == _sent(gr, p, 800)
        assert [e.seq for e in r.events(p)] == list(range(1, len(r.lines(p)) + 1))
    assert sum(len(r.lines(p)) for p in pods) >= 300
    assert gr.failed_requests >= 2 and r.provider.polls >= 10
    assert all(isinstance(e, ServerError) for e in r.errors)
    assert r.statuses(State.GAP) == []


async def test_first_poll_backfills_the_whole_tail(gr: GoldRushSim, run: Callable[..., Run]) -> None:
    gr.records, gr.tail_lines = 300, 40
    r = run()
    pods = [p.name for p in gr.pods()]
    await r.until(lambda: all(len(r.lines(p)) >= 40 for p in pods))
    await asyncio.sleep(0.1)
    for p in pods:
        assert r.lines(p) == _sent(gr, p)[-40:]


def _unstamped(line: str) -> bool:
    return split_leading_ts(line)[0] is None


async def test_line_timestamps_come_from_the_text_else_from_a_neighbour(
    gr: GoldRushSim, run: Callable[..., Run]
) -> None:
    gr.tail_lines = 40
    # a clock at which a pod's tail starts with unstamped lines (a JSON line, a traceback frame, ...)
    gr.records, pod = next(
        (n, p.name) for n in range(100, 2000) for p in gr.pods(n) if _unstamped(gr.pod_lines(p.name, n)[-40])
    )
    r = run()
    await r.until(lambda: len(r.lines(pod)) >= 40)
    events = r.events(pod)
    stamped = [i for i, e in enumerate(events) if not _unstamped(e.message)]
    assert 0 < stamped[0] < len(stamped) < len(events)  # both kinds, and an unstamped head
    for i, e in enumerate(events):
        if i in stamped:
            assert e.ts == split_leading_ts(e.message)[0]
        elif i > stamped[0]:
            assert e.ts == events[i - 1].ts
        else:
            assert e.ts == events[stamped[0]].ts


async def test_gap_when_the_tail_moved_on_between_polls(gr: GoldRushSim, run: Callable[..., Run]) -> None:
    gr.records, gr.tail_lines = 300, 30
    r = run()
    pod = gr.pods()[0].name
    await r.until(lambda: len(r.lines(pod)) >= 30)
    before = r.events(pod)[-1]
    gr.records = 1000  # 350 records per pod: far more than a 30-line window
    await r.until(lambda: len(r.statuses(State.GAP, pod)) == 1)
    await r.until(lambda: len(r.lines(pod)) >= 60)
    gap = r.statuses(State.GAP, pod)[0]
    assert gap.gap_from == before.ts
    assert gap.message.endswith("may be missing: the tail moved on between polls")
    assert r.lines(pod) == _sent(gr, pod, 300)[-30:] + _sent(gr, pod, 1000)[-30:]
    gap_at = r.items.index(gap)
    assert all(isinstance(i, LogEvent) and i.pod == pod for i in r.items[gap_at + 1 : gap_at + 31])


async def test_gap_when_the_tails_meet_only_on_a_line_printed_many_times(
    gr: GoldRushSim, run: Callable[..., Run]
) -> None:
    """The tail moved on past its window, but the last one ended and the new one
    starts with the same idle line: that is no proof of an overlap, so the lines
    between may be missing, and it says so (and still shows nothing twice)."""
    gr.tail_lines = 40
    pod = gr.pods(2000)[0].name

    def tail(n: int) -> list[str]:
        return _sent(gr, pod, n)[-40:]

    n1, n2, k = next(
        (n1, n2, k)
        for n1 in range(300, 3000)
        for n2 in (n1 + 150, n1 + 170, n1 + 190)
        if (k := tail_overlap(tail(n1), tail(n2))) and not overlap_is_sure(tail(n2), k)
    )
    assert len(_sent(gr, pod, n2)) - len(_sent(gr, pod, n1)) > 40  # the window moved on past a whole tail
    gr.records = n1
    r = run()
    await r.until(lambda: len(r.lines(pod)) >= 40)
    gr.records = n2
    await r.until(lambda: len(r.statuses(State.GAP, pod)) == 1)
    await r.until(lambda: len(r.lines(pod)) >= 80 - k)
    gap = r.statuses(State.GAP, pod)[0]
    assert gap.message.endswith("only lines printed many times")
    assert r.lines(pod) == tail(n1) + tail(n2)[k:]


async def test_pod_replacement_marks_old_gone_new_waiting_then_its_lines(
    gr: GoldRushSim, run: Callable[..., Run]
) -> None:
    gr.records = 300
    r = run()
    old = gr.pods()[0].name
    await r.until(lambda: len(r.lines(old)) >= len(gr.pod_lines(old)))
    new = gr.replace_pod(0)
    assert new != old
    await r.until(lambda: bool(r.statuses(State.POD_WAITING, new)))
    await asyncio.sleep(0.1)  # several polls while it waits: one status, no lines
    assert len(r.statuses(State.POD_WAITING, new)) == 1
    gr.records = 400
    await r.until(lambda: len(r.lines(new)) >= len(gr.pod_lines(new)) > 0)
    assert r.lines(new) == _sent(gr, new)
    assert [s.pod for s in r.statuses(State.POD_GONE)] == [old]
    mine = [i.state for i in r.items if isinstance(i, SourceStatus) and i.pod == new]
    assert mine == [State.POD_NEW, State.POD_WAITING, State.LIVE]
    assert TAIL_ERROR in r.statuses(State.POD_WAITING, new)[0].message
    assert not [i for i in r.items if isinstance(i, LogEvent) and "container not found" in i.message]


async def test_a_pod_that_blips_resumes_by_overlap_without_repeats(gr: GoldRushSim, run: Callable[..., Run]) -> None:
    gr.records = 300
    r = run()
    pod = gr.pods()[0].name
    await r.until(lambda: len(r.lines(pod)) >= len(gr.pod_lines(pod)))
    gr.unreachable.add(pod)
    await r.until(lambda: bool(r.statuses(State.POD_WAITING, pod)))
    gr.records = 320
    gr.unreachable.clear()
    await r.until(lambda: len(r.lines(pod)) >= len(gr.pod_lines(pod)))
    await asyncio.sleep(0.05)
    assert r.lines(pod) == _sent(gr, pod)
    assert [s.state for s in r.items if isinstance(s, SourceStatus) and s.pod == pod] == [
        State.POD_NEW,
        State.POD_WAITING,
        State.LIVE,
    ]


async def test_pipeline_status_is_reported_when_it_changes(gr: GoldRushSim, run: Callable[..., Run]) -> None:
    gr.records = 5  # before the first pods have containers
    r = run()
    await r.until(lambda: len(r.statuses(State.POD_WAITING)) == 2)
    gr.records = 100
    await r.until(lambda: len(r.statuses(State.INFO)) == 2)
    await asyncio.sleep(0.15)  # unchanged status is not repeated
    assert [s.message for s in r.statuses(State.INFO)] == [
        "pipeline DEPLOYING, 0/2 ready",
        "pipeline RUNNING, 2/2 ready",
    ]


async def _first_error(p: GoldRushProvider, kind: type[E]) -> E:
    with pytest.raises(kind) as info:
        async for _ in p.connect():
            pass
    return info.value


async def test_wrong_key_is_an_auth_error_without_the_key(sim: Simulator, client: httpx.AsyncClient) -> None:
    err = await _first_error(_provider(sim, client, secret="not-the-service-key"), AuthError)
    assert "401" in str(err)
    assert "not-the-service-key" not in str(err)


async def test_regular_api_key_is_refused_with_the_service_key_hint(sim: Simulator, client: httpx.AsyncClient) -> None:
    err = await _first_error(_provider(sim, client, secret="cqt_rQregular0123"), AuthError)
    assert "403" in str(err) and "ServiceKey required" in str(err)
    assert "need a ServiceKey, not a regular API key (GOLDRUSH_SERVICE_KEY)" in str(err)
    assert "cqt_rQregular0123" not in str(err)


async def test_unknown_pipeline_is_not_found(sim: Simulator, client: httpx.AsyncClient) -> None:
    err = await _first_error(_provider(sim, client, pipeline_id="pipe_0000000000"), NotFoundError)
    assert "pipe_0000000000" in str(err)


async def test_envelope_error_is_a_retryable_server_error(
    sim: Simulator, gr: GoldRushSim, client: httpx.AsyncClient
) -> None:
    gr.envelope_error = "pipeline runtime unreachable"
    err = await _first_error(_provider(sim, client), ServerError)
    assert "pipeline runtime unreachable" in str(err)
