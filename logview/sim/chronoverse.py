"""Chronoverse job events, simulated: a live pub/sub SSE stream plus paged history.

What the real server does and this reproduces: named events (`connected`,
`log`, `end`, and `error` whose data is plain text, even after a 200), log
records with empty fields left out (record 0 has no `sequence_num`), one
counter shared by stdout and stderr, and no resume at all: a connection gets
only the records produced after it subscribed. The history endpoint (newest
first, opaque cursor) is the only way to see anything earlier.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from logview.sim.chaos import RETRY_AFTER, Chaos, chaotic, phrase
from logview.sim.content import TRACEBACK, ContentGenerator
from logview.sim.server import SimParams

WORKFLOW_ID = "wf_nightly_etl"
RUNNING_JOB_ID = "job_20261123_0200"
FINISHED_JOB_ID = "job_20261122_0200"
FINISHED_LENGTH = 240
ERROR_TEXT = "internal error: log subscription lost"
BROKEN_LOG = '{"timestamp":"2026-11-23T02:00:00.000000000Z","message":"half a rec'
"""What the `malformed` knob sends as a `log` event: JSON cut in the middle."""

_TB_LINES = TRACEBACK.split("\n")


class _Cut(Exception):
    """Raised inside a stream to drop the connection without a clean end."""


class JobLines:
    """Record i of a job as (stream, text), a pure function of (seed, flavor, i).

    A job prints a traceback one line per record on stderr, so a traceback
    drawn by the generator at i occupies records i..i+6. Another traceback
    drawn inside that span prints only its last line (the exception itself).
    """

    def __init__(self, gen: ContentGenerator) -> None:
        self.gen = gen
        self._tb: dict[int, bool] = {}

    def _is_tb(self, k: int) -> bool:
        if k < 0:
            return False
        hit = self._tb.get(k)
        if hit is None:
            if len(self._tb) > 8192:
                self._tb.clear()
            hit = self._tb[k] = self.gen.line(k).text == TRACEBACK
        return hit

    def _tb_start(self, k: int) -> bool:
        return self._is_tb(k) and not any(self._is_tb(k - j) for j in range(1, len(_TB_LINES)))

    def line(self, i: int) -> tuple[str, str]:
        for j in range(len(_TB_LINES)):
            if self._tb_start(i - j):
                return "stderr", _TB_LINES[j]
        gl = self.gen.line(i)
        if gl.text == TRACEBACK:
            return "stderr", f"[ERROR] {_TB_LINES[-1]}"
        stream = "stderr" if gl.level in ("WARN", "ERROR") else "stdout"
        text = gl.text if gl.text.startswith("{") else f"[{gl.level}] {gl.text}"
        return stream, text


@dataclass
class CvJob:
    """One job: records 0..length-1, record i scheduled `shift` seconds before the shared clock's."""

    workflow_id: str
    job_id: str
    lines: JobLines
    length: int | None
    """Records the job prints before it ends (None: it runs forever). A test knob."""
    shift: float = 0.0


class ChronoverseSim:
    """The Chronoverse API for one running and one finished job.

    Test knobs (plain attributes, read on every record so they can change
    mid-stream): `drop_after`, `error_after`, `error_text`, `lose_every`,
    `malformed`, `history_status`, `history_failures`, `history_delay`,
    `page_size`, and each job's `length`
    (`sim.job.length`). What happened: `live_starts` (the first record index
    each events connection was given), `history_requests`, `auth_methods`.
    """

    def __init__(self, params: SimParams, key: str) -> None:
        self.params = params
        self.key = key
        self.job = CvJob(WORKFLOW_ID, RUNNING_JOB_ID, JobLines(ContentGenerator(params.seed, "job")), params.total)
        finished = CvJob(
            WORKFLOW_ID,
            FINISHED_JOB_ID,
            JobLines(ContentGenerator(params.seed, f"job:{FINISHED_JOB_ID}")),
            FINISHED_LENGTH,
            shift=86_400.0,
        )
        self.jobs = {(j.workflow_id, j.job_id): j for j in (self.job, finished)}
        self.drop_after: int | None = None
        """Cut every events connection after this many live records."""
        self.error_after: int | None = None
        """Send `event: error` (plain text) after this many live records, then close."""
        self.error_text = ERROR_TEXT
        self.lose_every: int | None = None
        """The live stream silently skips every n-th record (pub/sub loss); history keeps it."""
        self.malformed = False
        """Send one `log` event whose data is broken JSON right after `connected`."""
        self.history_status: int | None = None
        """Answer the history endpoint with this HTTP status instead."""
        self.history_failures: int | None = None
        """How many history requests get `history_status` before history recovers (None: all)."""
        self.history_delay = 0.0
        """Seconds the history endpoint takes before it answers (a slow database)."""
        self.page_size = 100
        self.chaos: Chaos | None = None
        """Seeded faults on the events stream (see logview.sim.chaos); a clean early
        end sends `event: error` after the 200. History is left alone: it is what
        makes a reconnect lossless."""
        self.live_starts: list[int] = []
        self.history_requests = 0
        self.auth_methods: list[str] = []

    # --- the schedule ---------------------------------------------------------

    def available(self, job: CvJob | None = None) -> int:
        """How many records of a job exist now."""
        job = job or self.job
        p = self.params
        n = max(0, p.backlog + int((time.time() + job.shift - p.t0) * p.rate) + 1)
        return n if job.length is None else min(n, job.length)

    def ts_of(self, i: int, job: CvJob | None = None) -> float:
        return self.params.ts_of(i) - (job or self.job).shift

    def record(self, i: int, job_id: str = RUNNING_JOB_ID) -> dict[str, Any]:
        """Record i of a job exactly as the server sends it (empty fields omitted)."""
        return self._record(self.jobs[(WORKFLOW_ID, job_id)], i)

    def _record(self, job: CvJob, i: int) -> dict[str, Any]:
        stream, text = job.lines.line(i)
        rec: dict[str, Any] = {"timestamp": _rfc3339nano(self.ts_of(i, job))}
        if text:
            rec["message"] = text
        if i:
            rec["sequence_num"] = i
        rec["stream"] = stream
        if stream == "stdout":  # the executor tags stdout lines with their event id
            digest = hashlib.blake2b(f"{job.job_id}:{i}".encode(), digest_size=16).digest()
            rec["event_id"] = str(uuid.UUID(bytes=digest))
        return rec

    # --- HTTP -----------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        base = "/workflows/{workflow_id}/jobs/{job_id}"
        return [Route(f"{base}/events", self._events), Route(f"{base}/logs", self._logs)]

    def demo_source(self, base_url: str) -> dict[str, Any]:
        return {
            "provider": "chronoverse",
            "name": "nightly-etl",
            "base_url": base_url,
            "workflow_id": WORKFLOW_ID,
            "job_id": RUNNING_JOB_ID,
        }

    def _check(self, request: Request) -> CvJob | Response:
        """The job a request names, or the error answer (auth first, like the server)."""
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), self.key.encode()):
            self.auth_methods.append("bearer")
        elif hmac.compare_digest(request.cookies.get("session", "").encode(), self.key.encode()):
            self.auth_methods.append("cookie")
        else:
            return JSONResponse({"error": "unauthorized: invalid or expired session"}, status_code=401)
        job = self.jobs.get((request.path_params["workflow_id"], request.path_params["job_id"]))
        if job is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        return job

    async def _events(self, request: Request) -> Response:
        job = self._check(request)
        if isinstance(job, Response):
            return job
        first = self.available(job)  # subscribed now: nothing older is sent
        error = _frame("error", self.error_text)
        refused, body = chaotic(self.chaos, self._stream(job, first), "sse", farewell=error)
        if refused is not None:
            headers = {"Retry-After": RETRY_AFTER} if refused == 429 else None
            return JSONResponse({"error": phrase(refused).lower()}, status_code=refused, headers=headers)
        self.live_starts.append(first)
        return StreamingResponse(
            body,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, job: CvJob, first: int) -> AsyncIterator[bytes]:
        yield _frame("connected", '{"status":"connected"}')
        if self.malformed:
            yield _frame("log", BROKEN_LOG)
        sent = 0
        i = first
        while True:
            if job.length is not None and i >= job.length:
                yield _frame("end", '{"status":"stream_ended"}')
                return
            n = self.available(job)
            if i >= n:
                await asyncio.sleep(min(max(self.ts_of(i, job) - time.time(), 0.001), 0.5))
                continue
            out: list[bytes] = []
            while i < n:
                if self.error_after is not None and sent >= self.error_after:
                    yield b"".join(out) + _frame("error", self.error_text)
                    return
                if self.drop_after is not None and sent >= self.drop_after:
                    if out:
                        yield b"".join(out)
                    raise _Cut("connection dropped on purpose")
                if not (self.lose_every and i % self.lose_every == self.lose_every - 1):
                    out.append(_frame("log", json.dumps(self._record(job, i), separators=(",", ":"))))
                    sent += 1
                i += 1
            if out:
                yield b"".join(out)

    async def _logs(self, request: Request) -> Response:
        job = self._check(request)
        if isinstance(job, Response):
            return job
        self.history_requests += 1
        if self.history_delay > 0:
            await asyncio.sleep(self.history_delay)
        if self.history_status is not None and self.history_failures != 0:
            if self.history_failures is not None:
                self.history_failures -= 1
            return JSONResponse({"error": "log history unavailable"}, status_code=self.history_status)
        n = self.available(job)
        before = n
        cursor = request.query_params.get("cursor")
        if cursor:
            decoded = _decode_cursor(cursor, job.job_id)
            if decoded is None:
                return JSONResponse({"error": "invalid cursor"}, status_code=400)
            before = min(decoded, n)
        low = max(0, before - self.page_size)
        body: dict[str, Any] = {"logs": [self._record(job, i) for i in range(before - 1, low - 1, -1)]}
        if low > 0:
            body["cursor"] = _encode_cursor(low, job.job_id)
        return JSONResponse(body)


def _frame(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


def _rfc3339nano(t: float) -> str:
    """RFC 3339 with nine fraction digits and `Z`, as Go's RFC3339Nano prints a full-nanosecond time."""
    secs, frac = divmod(round(t * 1e9), 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _encode_cursor(before: int, job_id: str) -> str:
    return base64.urlsafe_b64encode(f"{job_id}|{before}".encode()).decode()


def _decode_cursor(cursor: str, job_id: str) -> int | None:
    try:
        owner, _, before = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        value = int(before)
    except ValueError:  # bad base64, bad UTF-8 and bad numbers are all ValueErrors
        return None
    return value if owner == job_id and value >= 0 else None


__all__ = ["ERROR_TEXT", "FINISHED_JOB_ID", "RUNNING_JOB_ID", "WORKFLOW_ID", "ChronoverseSim", "CvJob", "JobLines"]
