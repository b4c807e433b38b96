"""GoldRush Pipeline API simulation: per-pod log tails to be polled, not streamed.

Every answer of `GET .../logs/` is the *current* tail (the last `tail_lines`
lines, kubectl-tail style) of each pod's output, so consecutive polls
overlap and a slow poller misses lines. The scenario follows the record
clock (`params.available()`, or `records` when a test freezes it):

- the pipeline's records go round-robin to its replicas (slot = i % replicas);
- the first pods stay in "container not found" until record `deploy_records`
  (status DEPLOYING), then print their records;
- every `replace_every` records (and on `replace_pod()`), one slot's pod is
  replaced: the old name disappears, a new one appears, answers "container
  not found" for `restart_records` records, then prints again.

`pod_lines(pod, n)` is the pure function of what a pod has printed at clock
`n`, so a test knows exactly what was there to be read.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from logview.sim.chaos import RETRY_AFTER, Chaos, chaotic, phrase
from logview.sim.content import ContentGenerator
from logview.sim.server import SimParams

DEMO_PIPELINE = "pipe_7f3a9c2e41"
TAIL_ERROR = 'unable to upgrade connection: container not found ("pipeline")'
"""What `logs` holds while a pod has no running container (envelope error stays false)."""
REGULAR_KEY_PREFIX = "cqt_rQ"
"""Keys of this shape are regular GoldRush API keys: valid, but refused here (403)."""
IDLE_LINE = "block-reader: waiting for new blocks from upstream..."
"""Printed as-is, again and again: identical lines that make tail overlaps ambiguous."""
COMPONENTS = ("block-reader", "normalizer", "transform", "sink-postgres")
_POD_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True, slots=True)
class SimPod:
    """One incarnation of a replica slot."""

    name: str
    slot: int
    generation: int
    born: int
    """Clock (records) at which the pod appears in answers."""
    ready_at: int
    """Index of the first record it prints; until that record exists it has no container."""
    gone_at: int | None
    """Clock at which it disappears (its successor's `born`)."""

    def alive(self, n: int) -> bool:
        return self.born <= n and (self.gone_at is None or n < self.gone_at)

    def running(self, n: int) -> bool:
        return n > self.ready_at


def _envelope(data: Any) -> dict[str, Any]:
    return {"data": data, "error": False, "error_message": None, "error_code": None}


def _error(status: int, message: str) -> JSONResponse:
    body = {"data": None, "error": True, "error_message": message, "error_code": str(status)}
    return JSONResponse(body, status_code=status)


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


def _stamp(epoch: float) -> str:
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class GoldRushSim:
    """The `/platform/pipeline-api/{pipeline_id}/{logs,status}/` endpoints for one pipeline."""

    def __init__(self, params: SimParams, key: str) -> None:
        self.params = params
        self.key = key
        self.gen = ContentGenerator(params.seed, "pipeline")
        self.pipeline_id = DEMO_PIPELINE
        self.replicas = 2
        self.tail_lines = 200
        """K: how many of its last lines each pod's `logs` holds."""
        self.deploy_records = 20
        """The first pods have no container until this record."""
        self.restart_records = 10
        """A replacement pod has no container for this many records."""
        self.replace_every: int | None = 900
        """Replace one pod every N records (slots in turn); None: never by itself."""
        self.records: int | None = None
        """Freeze the clock at this many records (tests); None follows the params."""
        self.status_override: str | None = None
        """Report this pipeline status instead of the derived one (PAUSED, FAILED, ...)."""
        self.fail_next = 0
        """Answer this many next logs requests with 503."""
        self.fail_every: int | None = None
        """Answer every Nth logs request with 503."""
        self.unreachable: set[str] = set()
        """Pods whose logs answer the tail error for now; their output resumes unchanged."""
        self.envelope_error: str | None = None
        """While set, logs answers are 200 with `error: true` and this message."""
        self.chaos: Chaos | None = None
        """Seeded faults on logs requests (see logview.sim.chaos): a refused, cut,
        stalled, dripped or truncated answer."""
        self.log_requests = 0
        self.failed_requests = 0
        self._replacements: list[tuple[int, int]] = []
        self.record_lines = functools.lru_cache(maxsize=16384)(self._record_lines)

    # --- the scenario (pure functions of the clock) ---------------------------------

    @property
    def uid(self) -> str:
        return "covalent-postgres-" + self.pipeline_id.replace("_", "-")

    def clock(self) -> int:
        """How many records exist now."""
        return self.records if self.records is not None else self.params.available()

    def replace_pod(self, slot: int = 0) -> str:
        """Replace the pod of `slot` now; returns the new pod's name."""
        n = max(1, self.clock())
        self._replacements.append((n, slot))
        return self.pods(n)[slot].name

    def _record_lines(self, i: int) -> tuple[str, ...]:
        """The lines record i prints: mostly `<ts> LEVEL component: text`, some bare."""
        g = self.gen.line(i)
        r = random.Random(f"{self.params.seed}:goldrush:{i}")
        roll = r.random()
        if roll < 0.05:
            return (IDLE_LINE,)
        if g.text.startswith("{"):
            return (g.text,)  # JSON lines carry their own fields, no prefix
        first, *rest = g.text.split("\n")
        if roll < 0.09:
            return (first, *rest)  # a library printing straight to stdout
        comp = COMPONENTS[r.randrange(len(COMPONENTS))]
        return (f"{_stamp(self.params.ts_of(i))} {g.level:<5} {comp}: {first}", *rest)

    def _births(self, slot: int, n: int) -> list[int]:
        times = {r for r, s in self._replacements if s == slot and 0 < r <= n}
        if self.replace_every:
            every = self.replace_every
            times.update(k * every for k in range(1, n // every + 1) if (k - 1) % self.replicas == slot)
        return [0, *sorted(times)]

    def _incarnations(self, slot: int, n: int) -> list[SimPod]:
        births = self._births(slot, n)
        out = []
        for g, born in enumerate(births):
            rng = random.Random(f"{self.params.seed}:{self.pipeline_id}:{slot}:{g}")
            suffix = "".join(rng.choice(_POD_ALPHABET) for _ in range(5))
            out.append(
                SimPod(
                    name=f"pipeline-{self.uid}-{suffix}",
                    slot=slot,
                    generation=g,
                    born=born,
                    ready_at=self.deploy_records if g == 0 else born + self.restart_records,
                    gone_at=births[g + 1] if g + 1 < len(births) else None,
                )
            )
        return out

    def pods(self, n: int | None = None) -> list[SimPod]:
        """The pods listed at clock n (one per slot)."""
        n = self.clock() if n is None else n
        return [self._incarnations(s, n)[-1] for s in range(self.replicas)]

    def all_pods(self, n: int | None = None) -> list[SimPod]:
        """Every pod that has existed up to clock n, gone ones included."""
        n = self.clock() if n is None else n
        return [p for s in range(self.replicas) for p in self._incarnations(s, n)]

    def _records_of(self, pod: SimPod, n: int) -> range:
        end = n if pod.gone_at is None else min(n, pod.gone_at)
        first = pod.ready_at + (pod.slot - pod.ready_at) % self.replicas
        return range(first, max(first, end), self.replicas)

    def pod_lines(self, pod: str, n: int | None = None) -> list[str]:
        """Everything `pod` has printed by clock n."""
        n = self.clock() if n is None else n
        for p in self.all_pods(n):
            if p.name == pod:
                return [line for i in self._records_of(p, n) for line in self.record_lines(i)]
        raise KeyError(pod)

    def pod_logs(self, pod: SimPod, n: int) -> str:
        """The `logs` string of one pod at clock n: the tail, or the runtime tail error."""
        if not pod.running(n) or pod.name in self.unreachable:
            return TAIL_ERROR
        lines: list[str] = []
        for i in reversed(self._records_of(pod, n)):
            lines[:0] = self.record_lines(i)
            if len(lines) >= self.tail_lines:
                break
        tail = lines[-self.tail_lines :] if self.tail_lines > 0 else []
        return "".join(line + "\n" for line in tail)

    def status(self, n: int | None = None) -> dict[str, Any]:
        n = self.clock() if n is None else n
        pods = self.pods(n)
        ready = sum(p.running(n) and p.name not in self.unreachable for p in pods)
        if self.status_override:
            state = self.status_override
        elif ready < len(pods) and all(p.generation == 0 for p in pods):
            state = "DEPLOYING"
        else:
            state = "RUNNING"
        return {
            "uid": self.uid,
            "status": state,
            "replicas": self.replicas,
            "ready": ready,
            "start_time": _stamp(self.params.ts_of(0)),
        }

    # --- HTTP ---------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/platform/pipeline-api/{pipeline_id}/logs/", self._logs, methods=["GET"]),
            Route("/platform/pipeline-api/{pipeline_id}/status/", self._status, methods=["GET"]),
        ]

    def _refuse(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if token != self.key:
            if token.startswith(REGULAR_KEY_PREFIX):
                return _error(
                    403, "ServiceKey required: regular GoldRush API keys are not accepted on Pipeline API endpoints."
                )
            return _error(401, "Invalid or missing ServiceKey. Send it as 'Authorization: Bearer <ServiceKey>'.")
        pid = request.path_params["pipeline_id"]
        if pid != self.pipeline_id:
            return _error(404, f"Pipeline {json.dumps(pid)} not found or not visible to this ServiceKey.")
        return None

    async def _logs(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        self.log_requests += 1
        if self.fail_next > 0 or (self.fail_every and self.log_requests % self.fail_every == 0):
            self.fail_next = max(0, self.fail_next - 1)
            self.failed_requests += 1
            return _error(503, "The pipeline runtime is temporarily unavailable. Please retry.")
        if self.envelope_error:
            body = {"data": None, "error": True, "error_message": self.envelope_error, "error_code": "500"}
            return JSONResponse(body)
        n = self.clock()
        pods = [{"pod": p.name, "logs": self.pod_logs(p, n)} for p in self.pods(n)]
        answer = JSONResponse(_envelope({"uid": self.uid, "pods": pods}))
        if self.chaos is None:
            return answer
        code, stream = chaotic(self.chaos, _once(bytes(answer.body)), "body")
        if code is not None:
            response = _error(code, f"{phrase(code)} (injected fault)")
            if code == 429:
                response.headers["Retry-After"] = RETRY_AFTER
            return response
        return StreamingResponse(stream, media_type="application/json")

    async def _status(self, request: Request) -> Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        return JSONResponse(_envelope(self.status()))

    def demo_source(self, base_url: str) -> dict[str, Any]:
        return {
            "provider": "goldrush",
            "name": "blocks-to-postgres",
            "base_url": base_url,
            "pipeline_id": self.pipeline_id,
            "poll_interval": 2.0,
        }
