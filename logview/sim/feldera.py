"""Feldera's pipeline-logs endpoint, as the real server behaves.

Each pipeline's runner keeps a circular buffer (50,000 lines or 1,000,000
bytes, whichever fills first) that starts with a `Fresh start of pipeline
logs` line. EVERY connection first gets the whole buffer, preceded by a WARN
line counting what was discarded from its front, and then the new lines as
they are produced; nothing is sent while the pipeline is quiet. That replay
is what makes a naive client repeat lines after a reconnect, and a buffer
that rotates past a disconnected client is what makes it lose some.

Record `i` is scheduled at `params.ts_of(i)`; `record_lines(i)` is its exact
wire text, a pure function of the seed, `i` and the format knobs, so tests
can compute what was sent. `buffer()` shows the buffer itself.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from logview.sim.chaos import Chaos, chaotic, phrase
from logview.sim.content import ContentGenerator
from logview.sim.server import SimParams

PIPELINE = "fraud-detection"
PIPELINE_ID = "0193e5a2-7c1d-7b3e-9f4a-2d8c6b1e0a57"
FRESH_START = "Fresh start of pipeline logs"
END_LINE = "Logs have ended"
RUNNER_TARGET = "pipeline_manager::runner::pipeline_logs"
AUTOMATON_TARGET = "pipeline_manager::runner::pipeline_automaton"

_TARGETS = (
    "dbsp_adapters::controller",
    "dbsp_adapters::controller",
    "dbsp_adapters::controller",
    "dbsp_adapters::server",
    "dbsp::circuit::runtime",
    "dbsp::storage::backend",
    "dbsp_adapters::transport::kafka::ft::input",
    "feldera_types::config",
)
_MANAGER = (
    "Pipeline status transitioned: Running",
    "Checkpoint completed in {n} ms",
    "Pipeline statistics: {n} records processed",
    "Runner heartbeat ok",
    "Storage usage {n} MiB",
)
_LEVEL_WORDS = {"WARNING": "WARN", "CRITICAL": "ERROR", "FATAL": "ERROR"}
# Rust `tracing` colours the level (padded to 5) and dims the timestamp and target.
_LEVEL_SGR = {"TRACE": "\x1b[35m", "DEBUG": "\x1b[34m", "INFO": "\x1b[32m", "WARN": "\x1b[33m", "ERROR": "\x1b[31m"}
_DIM, _RESET = "\x1b[2m", "\x1b[0m"
_POLL = 0.05
_REPLAY_CHUNK = 512


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SimulatedCut(Exception):
    """Raised inside a response body to drop the connection abruptly."""


class _PipelineLog:
    """One pipeline's circular buffer and the epoch (runner lifetime) it belongs to."""

    def __init__(self, sim: FelderaSim, name: str) -> None:
        self.sim = sim
        self.name = name
        self.epoch = 0
        self.lines: deque[str] = deque()
        self.nbytes = 0
        self.discarded = 0
        self.produced = 0
        """Records appended so far (they continue across runner restarts)."""
        self._fresh_at: float | None = sim.params.ts_of(0)
        """When the buffer (re)started; its first line is written on the next advance,
        so format knobs set before the first request apply to it."""

    def restart(self) -> None:
        self.advance()
        self.epoch += 1
        self.lines.clear()
        self.nbytes = 0
        self.discarded = 0
        self._fresh_at = time.time()

    def append(self, line: str) -> None:
        """Feldera's rule: drop from the front until the line fits; a line too big empties the buffer."""
        size = len(line.encode())
        if size > self.sim.capacity_bytes:
            self.discarded += len(self.lines) + 1
            self.lines.clear()
            self.nbytes = 0
            return
        self.lines.append(line)
        self.nbytes += size
        self.trim()

    def trim(self) -> None:
        """Drop lines from the front until the buffer is within its capacity knobs."""
        cap_bytes, cap_lines = self.sim.capacity_bytes, max(1, self.sim.capacity_lines)
        while self.lines and (self.nbytes > cap_bytes or len(self.lines) > cap_lines):
            self.nbytes -= len(self.lines.popleft().encode())
            self.discarded += 1

    def advance(self) -> None:
        if self._fresh_at is not None:
            self.append(self.sim.manager_line(self.name, self._fresh_at, "INFO", FRESH_START))
            self._fresh_at = None
        upto = self.sim.records_available()
        while self.produced < upto:
            for line in self.sim.record_lines(self.produced, self.name):
                self.append(line)
            self.produced += 1
        self.trim()


class FelderaSim:
    """`GET /v0/pipelines/{pipeline_name}/logs` for one demo pipeline.

    Knobs (plain attributes, read on every request or append):
    `drop_after` cuts each connection after that many live lines past the
    replay, halfway through the next line (`drop_clean` ends it cleanly
    instead of abruptly); `end_after` ends the log after that many records
    with `Logs have ended`; `capacity_lines` / `capacity_bytes` size the
    buffer; `notice` / `fresh_start` switch off the two header lines (as an
    older or different server might); `json_mode` is `FELDERA_LOG_JSON`;
    `ansi` colours the level as `tracing` does; `constant_line` makes every
    record the same line; `unavailable` answers the next N requests 503;
    `empty_404` sends 404s without a body; `json_200` answers 200 with a JSON
    error body. `restart()` simulates a runner restart, `cut_all()` a lost
    runner connection.
    """

    def __init__(self, params: SimParams, key: str) -> None:
        self.params = params
        self.key = key
        self.gen = ContentGenerator(params.seed, "pipeline")
        self.drop_after: int | None = None
        self.drop_clean = False
        self.end_after: int | None = None
        self.capacity_lines = 50_000
        self.capacity_bytes = 1_000_000
        self.notice = True
        self.fresh_start = True
        self.json_mode = False
        self.ansi = True
        self.constant_line: str | None = None
        self.unavailable = 0
        self.empty_404 = False
        self.json_200 = False
        self.chaos: Chaos | None = None
        """Seeded faults (see logview.sim.chaos); None: a well-behaved server."""
        self.connections = 0
        """Log streams opened so far (tests count reconnects with it)."""
        self.replays: list[tuple[int, int]] = []
        """Per stream: (buffer lines replayed, first record sent live after them)."""
        self._cuts = 0
        self._lock = threading.Lock()
        self.pipelines = {PIPELINE: _PipelineLog(self, PIPELINE)}

    # --- content ----------------------------------------------------------------

    def records_available(self) -> int:
        n = self.params.available()
        return n if self.end_after is None else min(n, self.end_after)

    def manager_line(self, name: str, ts: float, level: str, text: str, target: str = RUNNER_TARGET) -> str:
        """A runner (control-plane) line, formatted like Feldera's `format_log_line`."""
        if self.json_mode:
            return json.dumps(
                {
                    "timestamp": _iso(ts),
                    "level": level,
                    "target": target,
                    "feldera-service": "runner",
                    "pipeline-name": name,
                    "pipeline-id": PIPELINE_ID,
                    "fields": {"line": text},
                }
            )
        return f'[manager] {_iso(ts)} {level:>5} {target}: {text} pipeline-id="{PIPELINE_ID}" pipeline-name="{name}"'

    def record_lines(self, i: int, name: str = PIPELINE) -> list[str]:
        """Record i as the lines it puts on the wire (a traceback spans several)."""
        if self.constant_line is not None:
            return [self.constant_line]
        r = random.Random(f"{self.params.seed}:feldera:{i}")
        ts = self.params.ts_of(i)
        manager = r.random() < 0.07
        target = r.choice(_TARGETS)
        blank = r.random() < 0.03
        if manager:
            text = r.choice(_MANAGER).format(n=r.randint(1, 90_000))
            lines = [self.manager_line(name, ts, "INFO", text, AUTOMATON_TARGET)]
        else:
            g = self.gen.line(i)
            level = _LEVEL_WORDS.get(g.level, g.level)
            if self.json_mode:
                lines = [
                    json.dumps(
                        {
                            "timestamp": _iso(ts),
                            "level": level,
                            "target": target,
                            "feldera-service": "pipeline",
                            "pipeline-name": name,
                            "pipeline-id": PIPELINE_ID,
                            "fields": {"message": g.text},
                        }
                    )
                ]
            else:
                head, *rest = g.text.split("\n")
                if self.ansi:
                    sgr = _LEVEL_SGR.get(level, "")
                    prefix = f"{_DIM}{_iso(ts)}{_RESET} {sgr}{level:>5}{_RESET} {_DIM}{target}{_RESET}{_DIM}:{_RESET}"
                else:
                    prefix = f"{_iso(ts)} {level:>5} {target}:"
                lines = [f"[{name}] {prefix} {head}", *rest]
        if blank:
            lines.append("")
        return lines

    def line(self, i: int, name: str = PIPELINE) -> str:
        """Record i's exact text (lines joined by newlines)."""
        return "\n".join(self.record_lines(i, name))

    def wire_lines(self, start: int, stop: int, name: str = PIPELINE) -> list[str]:
        """The lines of records [start, stop), in order."""
        return [ln for i in range(start, stop) for ln in self.record_lines(i, name)]

    def notice_line(self, name: str, discarded: int) -> str:
        return self.manager_line(
            name,
            time.time(),
            "WARN",
            f"... {discarded} prior log lines were discarded due to buffer constraints and are thus not shown.",
        )

    # --- state for tests ----------------------------------------------------------

    def buffer(self, name: str = PIPELINE) -> list[str]:
        """The buffer as a connection made now would replay it (without the notice)."""
        with self._lock:
            log = self.pipelines[name]
            log.advance()
            return self._replayable(log)

    def discarded(self, name: str = PIPELINE) -> int:
        with self._lock:
            log = self.pipelines[name]
            log.advance()
            return log.discarded

    def cut_all(self) -> None:
        """Drop every open stream, as when the API server loses the runner for a moment."""
        self._cuts += 1

    def restart(self, name: str = PIPELINE) -> None:
        """A runner restart: the buffer starts over; open streams are cut."""
        with self._lock:
            self.pipelines[name].restart()

    def _replayable(self, log: _PipelineLog) -> list[str]:
        lines = list(log.lines)
        if not self.fresh_start and log.discarded == 0 and lines:
            lines = lines[1:]
        return lines

    # --- HTTP -------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [Route("/v0/pipelines/{pipeline_name}/logs", self._logs, methods=["GET"])]

    def demo_source(self, base_url: str) -> dict[str, Any]:
        return {"provider": "feldera", "name": PIPELINE, "base_url": base_url, "pipeline": PIPELINE}

    @staticmethod
    def _error(status: int, message: str, code: str, details: dict[str, Any] | None = None) -> Response:
        return JSONResponse({"message": message, "error_code": code, "details": details or {}}, status_code=status)

    async def _logs(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return self._error(401, "Unauthorized: the API key or token is not valid", "Unauthorized")
        name = request.path_params["pipeline_name"]
        if self.unavailable > 0:
            self.unavailable -= 1
            return self._error(
                503,
                "Unable to reach the pipeline runner to retrieve the logs",
                "RunnerInteractionUnreachable",
                {"pipeline_name": name},
            )
        log = self.pipelines.get(name)
        if log is None:
            if self.empty_404:
                return Response(status_code=404)
            return self._error(404, f"Unknown pipeline name '{name}'", "UnknownPipelineName", {"pipeline_name": name})
        if self.json_200:
            return self._error(200, "Pipeline logs are unavailable", "PipelineLogsUnavailable")
        refused, body = chaotic(self.chaos, self._stream(log), "lines")
        if refused is not None:
            return self._error(refused, phrase(refused), "InjectedFault")
        return StreamingResponse(body, media_type="text/plain")

    async def _stream(self, log: _PipelineLog) -> AsyncIterator[bytes]:
        with self._lock:
            log.advance()
            epoch = log.epoch
            replay = self._replayable(log)
            discarded = log.discarded
            nxt = log.produced
        cuts = self._cuts
        self.connections += 1
        self.replays.append((len(replay), nxt))
        if discarded and self.notice:
            yield (self.notice_line(log.name, discarded) + "\n").encode()
        for k in range(0, len(replay), _REPLAY_CHUNK):
            yield ("\n".join(replay[k : k + _REPLAY_CHUNK]) + "\n").encode()
        live = 0
        while True:
            if self.end_after is not None and nxt >= self.end_after:
                yield (END_LINE + "\n").encode()
                return
            with self._lock:
                log.advance()
                restarted = log.epoch != epoch
                produced = log.produced
            if restarted or self._cuts != cuts:
                raise SimulatedCut("the runner restarted" if restarted else "cut_all")
            if nxt >= produced:
                await asyncio.sleep(min(max(self.params.wait_for(nxt), 0.001), _POLL))
                continue
            for line in self.record_lines(nxt, log.name):
                data = (line + "\n").encode()
                if self.drop_after is not None and live >= self.drop_after:
                    if len(data) > 1:
                        yield data[: len(data) // 2]  # the cut lands mid-line
                    if self.drop_clean:
                        return
                    raise SimulatedCut("drop_after")
                yield data
                live += 1
            nxt += 1
