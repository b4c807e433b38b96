"""The fal serverless logs stream: `POST /v1/serverless/logs/stream` (SSE).

What it reproduces, because it is what makes naive clients lose or repeat
lines (see PROVIDER-NOTES):

- bare `data:` frames: no `id:`, no event name, so the only resume cursor is
  the `start` query parameter, and `start` defaults to 24 hours ago (a fresh
  connection replays all history);
- timestamps without a timezone, with microseconds, several entries often
  sharing one timestamp (now and then two identical entries, as a print in a
  loop gives), so resuming at `start=<last timestamp>` replays a few entries;
- level names in varying case (`INFO`, `info`, `warning`) and `stdout` /
  `stderr` as a "level" for user output;
- a traceback as ONE entry with embedded newlines;
- several workers of one app, and a second app for `app_id` to filter out;
- `event: error` frames with a plain-text body, and heartbeat comments.

Knobs for tests are plain attributes; `record(i)` is the exact entry `i`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from logview.sim.chaos import RETRY_AFTER, Chaos, chaotic, phrase
from logview.sim.content import TRACEBACK, ContentGenerator
from logview.sim.server import SimParams
from logview.text import parse_ts

PATH = "/v1/serverless/logs/stream"
APP = "acme/flux-dev"
OTHER_APP = "acme/whisper-v3"
REVISION = "rev_7f3c2a91d0"
OTHER_REVISION = "rev_2b8e44c015"
DEFAULT_LOOKBACK = timedelta(hours=24)
BATCH = 256
"""Entries per chunk written to the socket when a backlog is available."""

_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)

# Minimum-level ranks; user output counts as info, as fal's UI shows it.
_RANKS = {
    "trace": 5,
    "debug": 10,
    "info": 20,
    "stdout": 20,
    "stderr": 20,
    "warn": 30,
    "warning": 30,
    "error": 40,
    "critical": 50,
    "fatal": 50,
}
_LEVEL_SPELLINGS = {
    "DEBUG": ("DEBUG", "debug"),
    "INFO": ("INFO", "info", "INFO"),
    "WARN": ("WARNING", "warning", "warn"),
    "ERROR": ("ERROR", "error"),
}
_CONDITIONS = frozenset({"equals", "in", "not_equals", "not_in"})


@dataclass(frozen=True, slots=True)
class FalRequest:
    """What one request asked for (kept so tests can check what a client sent)."""

    params: list[tuple[str, str]]
    body: Any


class _BadRequest(Exception):
    pass


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def _uid(seed: int, what: str) -> str:
    return str(uuid.UUID(int=random.Random(f"{seed}:fal:{what}").getrandbits(128), version=4))


class FalSim:
    """fal's log stream over the shared simulation clock (`SimParams`)."""

    def __init__(self, params: SimParams, key: str) -> None:
        self.params = params
        self.key = key
        self.content = ContentGenerator(params.seed, "fal")
        self.workers = [_uid(params.seed, f"worker{n}") for n in range(3)]
        self.other_worker = _uid(params.seed, "worker-other")
        self._jobs = {w: _uid(params.seed, f"job:{w}") for w in (*self.workers, self.other_worker)}
        # --- knobs ---
        self.drop_after: int | None = None
        """Cut every connection abruptly after this many entries."""
        self.drop_clean = False
        """With `drop_after`: end the response cleanly instead of cutting it."""
        self.error_event_next = False
        """Send one `event: error` frame (plain text) before the next entry."""
        self.malformed_next = False
        """Send one empty `data:` frame and one frame that is not JSON."""
        self.fail_next: list[int] = []
        """HTTP statuses (429, 500, ...) to answer the next requests with."""
        self.heartbeat = 2.0
        """Seconds of silence before a `: keep-alive` comment."""
        self.chaos: Chaos | None = None
        """Seeded faults (see logview.sim.chaos); None: a well-behaved server."""
        # --- what happened ---
        self.requests: list[FalRequest] = []
        self.connections = 0

    def routes(self) -> list[BaseRoute]:
        return [Route(PATH, self._stream, methods=["POST"])]

    def demo_source(self, base_url: str) -> dict[str, Any]:
        return {"provider": "fal", "base_url": base_url, "name": "flux-dev", "app_id": [APP]}

    # --- content ------------------------------------------------------------

    def ts_us(self, i: int) -> int:
        """Microseconds since the epoch of entry i.

        In every other block of three, the entries share the first one's
        timestamp: the boundary case a `start=<last timestamp>` resume has to
        dedupe.
        """
        base = i - i % 3 if (i // 3) % 2 == 0 else i
        return round(self.params.ts_of(base) * 1_000_000)

    def _duplicate(self, i: int) -> bool:
        """Entry i repeats entry i-1 exactly (a print in a loop, same instant)."""
        if i % 3 == 0 or (i // 3) % 2:
            return False
        return random.Random(f"{self.params.seed}:fal-dup:{i}").random() < 0.15

    def record(self, i: int) -> dict[str, Any]:
        """Entry i exactly as it goes on the wire (a pure function of seed and i)."""
        if self._duplicate(i):
            return self.record(i - 1)
        r = random.Random(f"{self.params.seed}:fal-meta:{i}")
        line = self.content.line(i)
        if r.random() < 0.1:
            app, revision, worker, source = OTHER_APP, OTHER_REVISION, self.other_worker, "grpc-run"
        else:
            app, revision, worker, source = APP, REVISION, r.choice(self.workers), "gateway"
        user_output = (line.text == TRACEBACK and r.random() < 0.5) or r.random() < 0.2
        if user_output:
            level = "stderr" if line.level in ("WARN", "ERROR") else "stdout"
        else:
            level = r.choice(_LEVEL_SPELLINGS.get(line.level, (line.level,)))
        stamp = _EPOCH + self.ts_us(i) * _US
        return {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "level": level,
            "message": line.text,
            "app": app,
            "revision": revision,
            "labels": {
                "fal_job_id": self._jobs[worker],
                "fal_worker_id": worker,
                "fal_request_id": _uid(self.params.seed, f"req:{worker}:{i // 8}"),
                "source": source,
            },
        }

    # --- request ------------------------------------------------------------

    def _first_index(self, start_us: int) -> int:
        """The first entry at or after start (timestamps never decrease with i)."""
        p = self.params
        guess = int((start_us / 1_000_000 - p.t0) * p.rate) + p.backlog - 4
        i = max(0, guess)
        while i > 0 and self.ts_us(i - 1) >= start_us:
            i -= 1
        while self.ts_us(i) < start_us and (p.total is None or i < p.total):
            i += 1
        return i

    def _matcher(self, request: Request, body: Any) -> Callable[[dict[str, Any]], bool]:
        q = request.query_params
        apps = {a for v in q.getlist("app_id") for a in v.split(",") if a}
        level = q.get("level")
        min_rank = 0
        if level:
            if level.lower() not in _RANKS:
                raise _BadRequest(f"unknown level '{level}'")
            min_rank = _RANKS[level.lower()]
        search = (q.get("search") or "").lower()
        exact = {
            "revision": q.get("revision"),
            "source": q.get("run_source"),
            "fal_job_id": q.get("job_id"),
            "fal_request_id": q.get("request_id"),
        }
        exact = {k: v for k, v in exact.items() if v}
        filters = _label_filters(body)

        def match(rec: dict[str, Any]) -> bool:
            labels = rec["labels"]
            if apps and rec["app"] not in apps:
                return False
            if min_rank and _RANKS.get(rec["level"].lower(), 20) < min_rank:
                return False
            if search and search not in rec["message"].lower():
                return False
            for k, v in exact.items():
                if (rec[k] if k == "revision" else labels.get(k)) != v:
                    return False
            return all(f(labels) for f in filters)

        return match

    async def _stream(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Key {self.key}".encode()):
            return _error(401, "authorization_error", "Authentication required")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else []
        except ValueError:
            return _error(422, "validation_error", "body must be a JSON list of label filters")
        self.requests.append(FalRequest(list(request.query_params.multi_items()), body))
        if self.fail_next:
            status = self.fail_next.pop(0)
            if status == 429:
                return _error(429, "rate_limited", "Too many requests", {"Retry-After": "1"})
            return _error(status, "internal_error", "Internal server error")
        try:
            match = self._matcher(request, body)
            start_us, end_us = self._window(request)
        except _BadRequest as e:
            return _error(422, "validation_error", str(e))
        refused, stream = chaotic(self.chaos, self._events(self._first_index(start_us), end_us, match), "sse")
        if refused is not None:
            headers = {"Retry-After": RETRY_AFTER} if refused == 429 else None
            return _error(refused, "injected_fault", phrase(refused), headers)
        self.connections += 1
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    def _window(self, request: Request) -> tuple[int, int | None]:
        def us(name: str) -> int | None:
            value = request.query_params.get(name)
            if not value:
                return None
            dt = parse_ts(value)
            if dt is None:
                raise _BadRequest(f"'{name}' is not an ISO 8601 date-time: {value[:40]}")
            return (dt.replace(tzinfo=None) - _EPOCH) // _US

        start = us("start")
        if start is None:
            start = round((time.time() - DEFAULT_LOOKBACK.total_seconds()) * 1_000_000)
        return start, us("end")

    async def _events(
        self, i: int, end_us: int | None, match: Callable[[dict[str, Any]], bool]
    ) -> AsyncIterator[bytes]:
        p = self.params
        sent = 0
        quiet_since = time.monotonic()
        while True:
            out: list[bytes] = []
            if self.error_event_next:
                self.error_event_next = False
                out.append(b"event: error\ndata: log shard eu-1 is lagging; entries may arrive late\n\n")
            if self.malformed_next:
                self.malformed_next = False
                out.append(b"data:\n\n")
                out.append(b'data: {"timestamp": "2025-09-19T12:16:10", "message": "half\x1b]0;x\x07\n\n')
            avail = p.available()
            while i < avail and len(out) < BATCH:
                if end_us is not None and self.ts_us(i) > end_us:
                    break
                rec = self.record(i)
                i += 1
                if not match(rec):
                    continue
                out.append(b"data: " + json.dumps(rec).encode() + b"\n\n")
                sent += 1
                if self.drop_after is not None and sent % self.drop_after == 0:
                    yield b"".join(out)
                    if self.drop_clean:
                        return
                    raise ConnectionAbortedError("simulated drop")
            if out:
                yield b"".join(out)
                quiet_since = time.monotonic()
                continue
            if end_us is not None and i < avail:
                return  # past `end`: a bounded query is complete
            if p.total is not None and i >= p.total:
                wait = self.heartbeat
            else:
                wait = p.wait_for(i)
                if end_us is not None and self.ts_us(i) > end_us:
                    wait = max(0.0, end_us / 1_000_000 - time.time())
            idle = time.monotonic() - quiet_since
            await asyncio.sleep(max(0.001, min(wait, self.heartbeat - idle)))
            if time.monotonic() - quiet_since >= self.heartbeat:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()


def _label_filters(body: Any) -> list[Callable[[dict[str, str]], bool]]:
    """fal's label filters: `{key, value, condition_type}`, all must hold."""
    if not isinstance(body, list):
        raise _BadRequest("body must be a JSON list of label filters")
    out: list[Callable[[dict[str, str]], bool]] = []
    for f in body:
        if not isinstance(f, dict) or not isinstance(f.get("key"), str) or "value" not in f:
            raise _BadRequest("each filter needs 'key' and 'value'")
        value = f["value"]
        values = {value} if isinstance(value, str) else set(value) if isinstance(value, list) else None
        if values is None or not all(isinstance(v, str) for v in values):
            raise _BadRequest("a filter's 'value' is a string or a list of strings")
        cond = f.get("condition_type") or ("equals" if isinstance(value, str) else "in")
        if cond not in _CONDITIONS:
            raise _BadRequest(f"unknown condition_type '{cond}'")
        negate = cond.startswith("not_")

        def check(labels: dict[str, str], key: str = f["key"], vs: set[str] = values, neg: bool = negate) -> bool:
            return (labels.get(key) in vs) != neg

        out.append(check)
    return out


__all__ = ["APP", "OTHER_APP", "PATH", "FalRequest", "FalSim"]
