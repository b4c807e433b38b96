"""Did a client get every line the simulated server emitted, once, in order?

For each provider an `Audit` knows the exact records its simulation
emitted (the sims' pure record functions) and which part of a delivered
`LogEvent` identifies a record; `drive()` reconnects a provider exactly as
the streamer does, at once and without backoff. The no-loss tests and the
soak benchmark both use them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from logview.errors import RetryableError
from logview.model import Item, LogEvent, SourceStatus, State
from logview.providers import create
from logview.providers.base import Provider
from logview.providers.feldera import parse_line
from logview.sim import feldera as feldera_sim
from logview.sim.server import DEMO_KEYS, Simulator
from logview.text import parse_ts, sanitize

PROVIDERS = ("runpod", "fal", "feldera", "chronoverse", "goldrush")


@dataclass
class Run:
    """What one provider delivered across all its connections."""

    events: list[LogEvent] = field(default_factory=list)
    garbage: list[LogEvent] = field(default_factory=list)
    """Events for frames that were not records (malformed ones), shown as such."""
    statuses: list[SourceStatus] = field(default_factory=list)
    connections: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    """Retryable errors by class name: how each connection ended."""
    tally: Counter[str] = field(default_factory=Counter, repr=False)
    """Events counted per stream so far by `Audit.complete` (it counts only the new ones)."""
    tallied: int = field(default=0, repr=False)


@dataclass(frozen=True)
class Verdict:
    delivered: int
    lost: int
    repeated: int
    in_order: bool
    """What arrived is in the order it was emitted (skipping what was lost)."""
    gaps: int = 0
    """GAP statuses: places where the adapter said lines may be missing."""
    announced: int = 0
    """Of `lost`, the records of streams (pods) for which a gap was announced."""

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.repeated == 0 and self.in_order

    @property
    def silent(self) -> int:
        """Records lost without a gap marker saying so: always a bug."""
        return self.lost - self.announced

    @property
    def honest(self) -> bool:
        """Nothing repeated, order kept, and any loss announced by a gap."""
        return self.silent == 0 and self.repeated == 0 and self.in_order


def is_garbage(ev: LogEvent) -> bool:
    """An event an adapter made of a frame it could not decode."""
    return ev.fields.get("logview") == "unparseable"


async def drive(provider: Provider, done: Callable[[Run], bool], timeout: float, run: Run | None = None) -> Run:
    """Call connect() in a loop as the streamer does, reconnecting at once, until `done`.

    Stops when the provider has finished or `timeout` seconds have passed
    (checked per item: a connection that goes silent holds it until the
    adapter's stall timeout). Pass `run` to watch it fill from another task.
    """
    run = Run() if run is None else run
    deadline = time.monotonic() + timeout
    while not provider.finished and not done(run) and time.monotonic() < deadline:
        run.connections += 1
        try:
            async with aclosing(cast(AsyncGenerator[Item, None], provider.connect())) as stream:
                async for item in stream:
                    if isinstance(item, SourceStatus):
                        run.statuses.append(item)
                    elif is_garbage(item):
                        run.garbage.append(item)
                    else:
                        run.events.append(item)
                    if done(run) or time.monotonic() >= deadline:
                        return run
        except RetryableError as e:
            run.errors[type(e).__name__] += 1
    return run


class Audit:
    """One provider's side of the check: its adapter, and what its server emitted."""

    name: str

    def __init__(self, sim: Simulator, client: httpx.AsyncClient, n: int) -> None:
        self.sim = sim
        self.client = client
        self.n = n
        """Records the server emits (the sim's `params.total`)."""

    def spec_update(self) -> dict[str, Any]:
        return {}

    def provider(self, cls: type[Provider] | None = None) -> Provider:
        """The adapter for the sim's demo source; `cls` swaps in a subclass (a test's stall timeout)."""
        spec = next(s for s in self.sim.demo_specs() if s.provider == self.name)
        spec = spec.model_copy(update=self.spec_update())
        if cls is not None:
            return cls(spec, self.client, DEMO_KEYS[self.name])
        return create(spec, self.client, DEMO_KEYS[self.name])

    def expected(self) -> dict[str, list[Hashable]]:
        """Per stream (a pod for GoldRush, else one), the keys of what the server emitted."""
        raise NotImplementedError

    def key(self, ev: LogEvent) -> tuple[str, Hashable]:
        raise NotImplementedError

    def delivered(self, run: Run) -> dict[str, list[Hashable]]:
        out: dict[str, list[Hashable]] = {}
        for ev in run.events:
            stream, key = self.key(ev)
            out.setdefault(stream, []).append(key)
        return out

    def complete(self, run: Run) -> bool:
        """Whether as many lines arrived as were emitted (time to stop and judge).

        Called after every item, so it counts only the events new since the
        last call (`run.tally`): linear in the run, not quadratic.
        """
        for ev in run.events[run.tallied :]:
            run.tally[self.key(ev)[0]] += 1
        run.tallied = len(run.events)
        return all(run.tally[k] >= len(v) for k, v in self._want().items())

    def expected_total(self) -> int:
        return sum(map(len, self._want().values()))

    def _want(self) -> dict[str, list[Hashable]]:
        if not hasattr(self, "_expected"):
            self._expected = self.expected()
        return self._expected

    def verdict(self, run: Run) -> Verdict:
        want, got = self._want(), self.delivered(run)
        gapped = Counter(s.pod or "" for s in run.statuses if s.state is State.GAP)
        lost = repeated = delivered = announced = 0
        in_order = True
        for stream in want.keys() | got.keys():
            w, g = want.get(stream, []), got.get(stream, [])
            missing = sum((Counter(w) - Counter(g)).values())
            lost += missing
            announced += missing if gapped[stream] else 0
            repeated += sum((Counter(g) - Counter(w)).values())
            delivered += len(g)
            in_order = in_order and _subsequence(g, w)
        return Verdict(delivered, lost, repeated, in_order, sum(gapped.values()), announced)


def _subsequence(got: list[Hashable], want: list[Hashable]) -> bool:
    """Whether `got` is `want` with some items left out, order kept (with nothing lost: equal)."""
    it = iter(want)
    return all(any(g == w for w in it) for g in got)


class RunPodAudit(Audit):
    name = "runpod"

    def spec_update(self) -> dict[str, Any]:
        return {"since": self.sim.runpod.record(0).ts}

    def expected(self) -> dict[str, list[Hashable]]:
        return {"": [self.sim.runpod.record(i).id for i in range(self.n)]}

    def key(self, ev: LogEvent) -> tuple[str, Hashable]:
        return "", ev.seq


class FalAudit(Audit):
    name = "fal"

    def spec_update(self) -> dict[str, Any]:
        return {"start": self.sim.fal.record(0)["timestamp"]}

    def expected(self) -> dict[str, list[Hashable]]:
        fal = self.sim.fal
        recs = (fal.record(i) for i in range(self.n))
        app = self.provider().spec.app_id
        return {
            "": [
                (parse_ts(r["timestamp"]), sanitize(r["message"]), r["labels"]["fal_worker_id"])
                for r in recs
                if not app or r["app"] in app
            ]
        }

    def key(self, ev: LogEvent) -> tuple[str, Hashable]:
        return "", (ev.ts, ev.message, ev.pod)


class FelderaAudit(Audit):
    name = "feldera"

    def expected(self) -> dict[str, list[Hashable]]:
        fd = self.sim.feldera
        fresh = fd.manager_line(feldera_sim.PIPELINE, self.sim.params.ts_of(0), "INFO", feldera_sim.FRESH_START)
        return {"": [parse_line(line).message for line in [fresh, *fd.wire_lines(0, self.n)]]}

    def key(self, ev: LogEvent) -> tuple[str, Hashable]:
        return "", ev.message

    def delivered(self, run: Run) -> dict[str, list[Hashable]]:
        """The records, without the server's own "N prior log lines were discarded" notices (shown, not records)."""
        return {"": [ev.message for ev in run.events if "prior log lines were discarded" not in ev.message]}


class ChronoverseAudit(Audit):
    name = "chronoverse"

    def expected(self) -> dict[str, list[Hashable]]:
        return {"": list(range(self.n))}

    def key(self, ev: LogEvent) -> tuple[str, Hashable]:
        return "", ev.seq


class GoldRushAudit(Audit):
    name = "goldrush"

    def spec_update(self) -> dict[str, Any]:
        return {"poll_interval": 0.01}

    def expected(self) -> dict[str, list[Hashable]]:
        gr = self.sim.goldrush
        return {p.name: [sanitize(line) for line in gr.pod_lines(p.name, self.n)] for p in gr.all_pods(self.n)}

    def key(self, ev: LogEvent) -> tuple[str, Hashable]:
        return ev.pod or "", ev.message


AUDITS: dict[str, type[Audit]] = {
    a.name: a for a in (RunPodAudit, FalAudit, FelderaAudit, ChronoverseAudit, GoldRushAudit)
}


def prepare(sim: Simulator, n: int) -> None:
    """Make every simulated source emit exactly `n` records and then end or idle.

    Chronoverse's job and Feldera's log end after them; GoldRush keeps its
    pods (a replaced pod's last lines may be gone before a poll sees them).
    """
    sim.params.total = n
    sim.chronoverse.job.length = n
    sim.feldera.end_after = n
    sim.goldrush.replace_every = None


__all__ = ["AUDITS", "PROVIDERS", "Audit", "Run", "Verdict", "drive", "is_garbage", "prepare"]
