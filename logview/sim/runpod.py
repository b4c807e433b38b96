"""RunPod serverless worker logs, simulated: SSE whose ids are `<second>Z/<counter>`.

What makes it worth testing against: hundreds of records share one second
(so a `since=` resume duplicates or skips), the id is an opaque cursor that
only `Last-Event-ID` resumes exactly, a cut can leave half a frame behind,
and the cursor precedence is `Last-Event-ID` > `since` > `tail`. Errors are
`application/problem+json`; a terminated worker's logs are gone (404).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from logview.sim.chaos import RETRY_AFTER, Chaos, chaotic, phrase
from logview.sim.content import ContentGenerator
from logview.sim.server import SimParams
from logview.text import parse_ts

ENDPOINT_ID = "ep_sdxl7f3k2"
WORKERS = ("worker_a1b2c3", "worker_d4e5f6")
"""Live workers of the demo endpoint; the first is the default for `record()`."""
TERMINATED = "worker_k7m9p2"
"""A worker that existed and terminated: its logs are gone (404)."""

_MAX_SPAN = 16
"""A multi-line content entry covers at most this many records (one per line)."""

_STARTUP = (
    "pulling image registry.runpod.net/sdxl-worker:1.4.2",
    "image pulled in 14.2s (6.1 GiB, 23 layers)",
    "starting container on NVIDIA L40S (46 GiB), driver 550.54.15, CUDA 12.4",
    "worker state changed: initializing -> running",
)
_SYSTEM = (
    "worker state changed: running",
    "health check passed (200 in {n}ms)",
    "job job_{j:04d} assigned to worker",
    "job job_{j:04d} completed in {n}ms",
    "gpu telemetry: temperature {t}C, power {p}W",
    "pulling image registry.runpod.net/sdxl-worker:1.4.2 (layer cache warm)",
)


def _mix(x: int) -> int:
    """splitmix64: a cheap, portable, deterministic hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _rfc3339(dt: datetime) -> str:
    """Go's RFC3339Nano shape: fraction without trailing zeros, none when zero."""
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        base += "." + f"{dt.microsecond:06d}".rstrip("0")
    return base + "Z"


@dataclass(frozen=True, slots=True)
class RunPodRecord:
    """One record exactly as the server sends it."""

    index: int
    id: str
    """`<second-resolution ts>Z/<12-digit counter>`, the SSE `id:`."""
    source: str
    """`container` or `system`."""
    line: str
    ts: str
    """The payload's `ts`, RFC 3339 with a fraction."""
    time: datetime

    def payload(self) -> str:
        return json.dumps({"source": self.source, "line": self.line, "ts": self.ts})


@dataclass(frozen=True, slots=True)
class RunPodRequest:
    """What a client asked for (tests assert on resume cursors)."""

    worker_id: str
    params: dict[str, str]
    last_event_id: str | None


@dataclass
class _Query:
    source: str | None
    start: int


class _Cut(Exception):
    """Raised inside the body generator: the server drops the connection."""


class RunPodSim:
    """`GET /v2/serverless/{id}/workers/{workerId}/logs` as `text/event-stream`.

    Record i of a worker is `record(i, worker_id)`, scheduled at
    `params.ts_of(i)`; its id counter is i. Test knobs are plain attributes.
    """

    def __init__(self, params: SimParams, key: str) -> None:
        self.params = params
        self.key = key
        self.endpoint_id = ENDPOINT_ID
        self.workers: tuple[str, ...] = (*WORKERS, TERMINATED)
        self.terminated: set[str] = {TERMINATED}
        """Known workers that answer 404 (their logs were removed)."""
        self.drop_after: int | None = None
        """Cut every connection abruptly after this many records."""
        self.drop_partial = True
        """On a cut, first send the next frame without its closing blank line."""
        self.rate_limit_next = 0
        """Answer the next N requests 429 (Retry-After: 1)."""
        self.malformed: set[int] = set()
        """Record indices whose `data:` is sent as truncated JSON."""
        self.ignore_last_event_id = False
        """Drift: behave like a server that ignores the Last-Event-ID header."""
        self.keepalive_interval = 15.0
        """Seconds of silence before a `: keepalive` comment."""
        self.retry_ms = 3000
        self.chaos: Chaos | None = None
        """Seeded faults (see logview.sim.chaos); None: a well-behaved server."""
        self.requests: deque[RunPodRequest] = deque(maxlen=256)
        self._content = [ContentGenerator(params.seed + n, "worker") for n in range(len(self.workers))]
        self._parts = functools.lru_cache(maxsize=4096)(self._split)

    # --- what record i is ---------------------------------------------------------

    def record(self, i: int, worker_id: str = WORKERS[0]) -> RunPodRecord:
        """Record i of a worker: a pure function of (seed, worker, i, t0, rate, backlog)."""
        w = self.workers.index(worker_id)
        dt = self._time(i)
        system = self._system_line(w, i)
        source, line = ("system", system) if system is not None else ("container", self._container_line(w, i))
        rid = dt.strftime("%Y-%m-%dT%H:%M:%SZ") + f"/{i:012d}"
        return RunPodRecord(i, rid, source, line, _rfc3339(dt), dt)

    def _time(self, i: int) -> datetime:
        return datetime.fromtimestamp(self.params.ts_of(i), tz=UTC)

    def _system_line(self, w: int, i: int) -> str | None:
        if i < len(_STARTUP):
            return _STARTUP[i]
        h = _mix((self.params.seed * 1_000_003 + w) * 0x1_0000_0000 + i)
        if h % 100 >= 6:
            return None
        tmpl = _SYSTEM[(h >> 8) % len(_SYSTEM)]
        return tmpl.format(n=(h >> 16) % 400 + 2, j=(h >> 24) % 10_000, t=(h >> 32) % 40 + 45, p=(h >> 40) % 250 + 100)

    def _split(self, w: int, j: int) -> tuple[str, ...]:
        return tuple(self._content[w].line(j).text.split("\n"))

    def _container_line(self, w: int, i: int) -> str:
        """RunPod sends lines: a traceback becomes consecutive records, one per line.

        Record i is line k of the latest multi-line entry j = i - k that still
        covers it; otherwise content line i itself.
        """
        for k in range(min(_MAX_SPAN, i + 1)):
            parts = self._parts(w, i - k)
            if len(parts) > max(k, 1):
                return parts[k]
        return self._parts(w, i)[0]

    def _first_at_or_after(self, since: datetime, strict: bool = False) -> int:
        """The first index whose time is >= since (> when strict)."""
        p = self.params
        guess = math.ceil(p.backlog + (since.timestamp() - p.t0) * p.rate)
        i = max(0, min(guess, p.backlog + int(p.rate * 86_400 * 366 * 100)))  # within a century

        def before(k: int) -> bool:
            t = self._time(k)
            return t <= since if strict else t < since

        while i > 0 and not before(i - 1):
            i -= 1
        while before(i):
            i += 1
        return i

    def _tail_start(self, n: int, worker_id: str, source: str | None, available: int) -> int:
        """Where a backfill of the last n records (of the selected source) starts."""
        if source is None:
            return max(0, available - n)
        w = self.workers.index(worker_id)
        i, found = available, 0
        while i > 0 and found < n:
            i -= 1
            if (self._system_line(w, i) is not None) == (source == "system"):
                found += 1
        return i

    # --- HTTP ----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route("/v2/serverless/{id}/workers/{workerId}/logs", self._logs, methods=["GET"])]

    def demo_source(self, base_url: str) -> dict[str, Any]:
        return {
            "provider": "runpod",
            "name": "sdxl-worker",
            "base_url": base_url,
            "endpoint_id": self.endpoint_id,
            "worker_id": WORKERS[0],
        }

    async def _logs(self, request: Request) -> Response:
        worker_id = request.path_params["workerId"]
        last_event_id = request.headers.get("last-event-id")
        self.requests.append(RunPodRequest(worker_id, dict(request.query_params), last_event_id))
        auth = request.headers.get("authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {self.key}".encode()):
            return _problem(401, "Unauthorized", "missing or invalid API key")
        if self.rate_limit_next > 0:
            self.rate_limit_next -= 1
            return _problem(
                429,
                "Too Many Requests",
                "rate limit exceeded: 60 requests per minute",
                headers={
                    "Retry-After": "1",
                    "RateLimit": "limit=60, remaining=0, reset=1",
                    "RateLimit-Policy": "60;w=60",
                },
            )
        if (
            request.path_params["id"] != self.endpoint_id
            or worker_id not in self.workers
            or worker_id in self.terminated
        ):
            return _problem(404, "Not Found", "worker not found")
        query = self._parse_query(request.query_params, worker_id, None if self.ignore_last_event_id else last_event_id)
        if isinstance(query, Response):
            return query
        refused, body = chaotic(self.chaos, self._frames(worker_id, query), "sse")
        if refused is not None:
            headers = {"Retry-After": RETRY_AFTER} if refused == 429 else None
            return _problem(refused, phrase(refused), "injected fault", headers=headers)
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def _parse_query(self, qp: Any, worker_id: str, last_event_id: str | None) -> _Query | Response:
        errors: list[dict[str, str]] = []
        source = qp.get("source")
        if source is not None and source not in ("container", "system"):
            errors.append({"field": "source", "message": "must be one of: container, system"})
        tail = 100
        if "tail" in qp:
            raw = qp["tail"]
            if raw.isascii() and raw.isdigit() and int(raw) <= 5000:
                tail = int(raw)
            else:
                errors.append({"field": "tail", "message": "must be an integer between 0 and 5000"})
        since = parse_ts(qp["since"]) if "since" in qp else None
        if "since" in qp and since is None:
            errors.append({"field": "since", "message": "must be an RFC 3339 timestamp"})
        start: int | None = None
        if last_event_id:
            start = self._after_event_id(last_event_id)
            if start is None:
                errors.append({"field": "Last-Event-ID", "message": "not an event id from this stream"})
        if errors:
            return _problem(400, "Bad Request", "invalid request parameters", errors=errors)
        if start is None:
            if since is not None:
                start = self._first_at_or_after(since)
            else:
                start = self._tail_start(tail, worker_id, source, self.params.available())
        return _Query(source, start)

    def _after_event_id(self, value: str) -> int | None:
        """Where to resume strictly after an id: `<ts>/<counter>`, or a bare ts."""
        prefix, sep, counter = value.rpartition("/")
        if sep:
            if counter.isascii() and counter.isdigit() and parse_ts(prefix) is not None:
                return int(counter) + 1
            return None
        ts = parse_ts(value)
        return None if ts is None else self._first_at_or_after(ts, strict=True)

    def _frame(self, rec: RunPodRecord, complete: bool = True) -> str:
        data = rec.payload()
        if rec.index in self.malformed:
            data = data[: len(data) // 2]
        return f"id: {rec.id}\ndata: {data}\n" + ("\n" if complete else "")

    async def _frames(self, worker_id: str, query: _Query) -> AsyncIterator[str]:
        p = self.params
        yield f"retry: {self.retry_ms}\n\n"
        last_write = time.monotonic()
        sent = 0
        i = query.start
        while p.total is None or i < p.total:
            available = p.available()
            if i >= available:
                idle = self.keepalive_interval - (time.monotonic() - last_write)
                if idle <= 0:
                    yield ": keepalive\n\n"
                    last_write = time.monotonic()
                else:
                    await asyncio.sleep(max(0.001, min(p.wait_for(i), idle)))
                continue
            out: list[str] = []
            end = min(available, i + 500)
            while i < end:
                rec = self.record(i, worker_id)
                i += 1
                if query.source is not None and rec.source != query.source:
                    continue
                out.append(self._frame(rec))
                sent += 1
                if self.drop_after is not None and sent >= self.drop_after:
                    if self.drop_partial:
                        out.append(self._frame(self.record(i, worker_id), complete=False))
                    yield "".join(out)
                    raise _Cut(f"cut after {sent} records")
            if out:
                yield "".join(out)
                last_write = time.monotonic()


def _problem(
    status: int,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"title": title, "status": status, "detail": detail, "errors": errors or []}
    return Response(json.dumps(body), status_code=status, media_type="application/problem+json", headers=headers)


__all__ = ["ENDPOINT_ID", "TERMINATED", "WORKERS", "RunPodRecord", "RunPodRequest", "RunPodSim"]
