"""Chronoverse job events: a live pub/sub SSE stream, its gaps filled from history.

The events endpoint cannot resume (no `id:`, no `retry:`, `Last-Event-ID`
ignored) and never backfills: a connection sees only the lines produced after
it subscribed. Everything else (the lines before the first connect, those
produced while reconnecting, any the pub/sub dropped, the last ones before
`end`) comes from the paged history endpoint, newest first. It is read only
*after* the live stream is up, with live events buffered meanwhile, so no line
can fall between the two; both are merged by `sequence_num`.

History is the only copy of a missed line, so a failed history read (5xx,
429, a cut, no answer in time) is retried a few times with a backoff while
the hole stays open; only then is it declared a gap. A history page is a
bounded request, not a stream: it gets at least `HISTORY_READ_TIMEOUT`
seconds to answer even when the live stream's stall timeout is shorter.

Dedupe state: `_floor` (every number up to it was delivered or declared lost)
plus the set of numbers delivered above it, which stays empty while lines
arrive in order. A hole in that numbering is filled from history after a few
seconds, or declared a gap once history shows it does not have the line.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from logview.errors import RetryableError, ServerError, SourceError, StreamCut
from logview.model import Item, LogEvent, State, utcnow
from logview.providers.base import Provider
from logview.sse import SSEDecoder, SSEvent
from logview.text import detect_level, parse_ts, sanitize

BACKFILL_LIMIT = 10_000
"""Lines of history shown on the first connect; older ones are not fetched."""
GAP_LIMIT = 100_000
"""Most lines fetched to fill one gap; beyond it the rest is reported as a gap."""
HOLE_PATIENCE = 5.0
"""Seconds a hole in the live numbering may stay open before history is asked."""
HOLE_MAX = 1_000
"""...or how many lines may be delivered past it first."""
END_FILL_TRIES = 3
END_FILL_DELAY = 1.0
"""After `end`, history that is still behind the live stream is asked again."""
HISTORY_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
"""Seconds before each retry of a failed history read; when they run out, the hole is a gap."""
HISTORY_RETRY_MAX = 30.0
"""The longest wait a server's Retry-After may ask for between two history reads."""
HISTORY_READ_TIMEOUT = 10.0
"""Seconds a history page may take to answer, whatever the live stream's stall timeout."""
HISTORY_BODY_LIMIT = 32 * 1024 * 1024
LIVE_QUEUE = 10_000
"""Live events held while history is read; beyond it TCP holds the rest."""

_CORE_KEYS = frozenset({"timestamp", "message", "sequence_num", "stream"})

_Received = SSEvent | Exception | None
"""What the reader task hands over: an event, the error that ended it, or EOF."""


class ChronoverseProvider(Provider):
    """One Chronoverse job's logs."""

    kind = "chronoverse"

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._floor = -1
        self._above: set[int] = set()
        self._top = -1
        self._top_ts: datetime | None = None
        self._hole_since: float | None = None
        self._resync = False
        self._backfilled = False
        self._history_newest = -1

    # --- requests -------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Bearer by default; the self-hosted server reads a `session` cookie instead.

        Sent as a header rather than httpx `cookies=`: per-request cookies are
        deprecated there and would end up in the shared client's jar.
        """
        if self._secret and self.spec.auth == "cookie":
            return {"Cookie": f"session={self._secret}"}
        return super().auth_headers()

    def key_hint(self) -> str:
        what = "session token" if self.spec.auth == "cookie" else "API token"
        env = self.spec.key_env
        return f"check that {env} holds a valid {what}" if env else f"check the {what}"

    def not_found_hint(self) -> str:
        return f"check workflow_id {self.spec.workflow_id!r} and job_id {self.spec.job_id!r}"

    @property
    def _job_path(self) -> str:
        return f"/workflows/{quote(self.spec.workflow_id, safe='')}/jobs/{quote(self.spec.job_id, safe='')}"

    # --- the live stream --------------------------------------------------------

    async def connect(self) -> AsyncGenerator[Item, None]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        async with self.open("GET", f"{self._job_path}/events", headers=headers, expect="text/event-stream") as resp:
            queue: asyncio.Queue[_Received] = asyncio.Queue(LIVE_QUEUE)
            reader = asyncio.create_task(self._read(resp, queue), name=f"chronoverse-read:{self.name}")
            try:
                filled = False
                while True:
                    received = await queue.get()
                    if received is None:
                        return  # closed without `end`: the streamer reconnects
                    if isinstance(received, Exception):
                        raise received  # inside open(): becomes StreamCut / Stalled
                    if not filled:  # subscribed: now history cannot miss what live will not bring
                        filled = True
                        async for item in self._fill():
                            yield item
                    name = received.event
                    if name in ("log", "message"):
                        event = self._live(received.data)
                        if event is not None:
                            yield event
                        if self._hole_overdue():
                            async for item in self._fill():
                                yield item
                    elif name == "end":
                        async for item in self._fill_after_end():
                            yield item
                        self.finished = True
                        return
                    elif name == "error":
                        text = _one_line(received.data)
                        yield self.status(State.INFO, f"Chronoverse reported an error: {text}")
                        raise StreamCut(f"the server ended the stream with an error ({text})")
                    # `connected` and unknown events carry nothing to show
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, resp: httpx.Response, queue: asyncio.Queue[_Received]) -> None:
        """Decode the stream into `queue` so it keeps flowing while history is read."""
        decoder = SSEDecoder()
        try:
            async for chunk in resp.aiter_bytes():
                for ev in decoder.feed(chunk):
                    await queue.put(ev)
                if decoder.retry is not None:
                    self.retry_hint = decoder.retry / 1000
            await queue.put(None)
        except Exception as e:  # handed to connect(), which raises it where open() maps it
            await queue.put(e)

    def _live(self, data: str) -> LogEvent | None:
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as e:
            return self._unparseable(data, str(e))
        if not isinstance(obj, dict):
            return self._unparseable(data, f"a JSON {type(obj).__name__}, not an object")
        seq, ev = self._record(obj)
        if seq is None:
            return ev  # cannot be placed or deduped: show it as it came
        if self._resync:  # history failed: the live numbering becomes the new start
            self._resync = False
            self._skip_to(seq - 1)
        if not self._is_new(seq):
            return None
        self._mark(seq, ev.ts)
        return ev

    # --- history ------------------------------------------------------------------

    async def _fill(self) -> AsyncIterator[Item]:
        """Deliver, in order, the lines history has and we have not shown.

        Walks pages (newest first) until it reaches what was already delivered.
        On the first connect this is the backfill.
        """
        first = not self._backfilled
        self._backfilled = True
        limit = BACKFILL_LIMIT if first else GAP_LIMIT
        found: dict[int, LogEvent] = {}
        newest, oldest = -1, -1
        complete = False
        cursor: str | None = None
        seen: set[str] = set()
        try:
            while True:
                tries = 0
                while True:  # the hole stays open while history is retried
                    try:
                        records, nxt = await self._history_page(cursor)
                        break
                    except RetryableError as e:
                        if tries == len(HISTORY_RETRY_DELAYS):
                            raise type(e)(f"{e}; tried {tries + 1} times") from None
                        delay = HISTORY_RETRY_DELAYS[tries]
                        tries += 1
                        if e.retry_after is not None:
                            delay = min(max(delay, e.retry_after), HISTORY_RETRY_MAX)
                        yield self.status(
                            State.INFO, f"the job's history is unavailable ({e}); retrying in {delay:g} s"
                        )
                        await asyncio.sleep(delay)
                cursor = nxt
                for obj in records:
                    if not isinstance(obj, dict):
                        continue
                    seq, ev = self._record(obj)
                    if seq is None:
                        continue
                    newest = max(newest, seq)
                    oldest = seq if oldest < 0 else min(oldest, seq)
                    if self._is_new(seq):
                        found[seq] = ev
                if cursor is None or cursor in seen or 0 <= oldest <= self._floor + 1:
                    complete = True
                    break
                seen.add(cursor)
                if len(found) >= limit:
                    break
        except SourceError as e:
            self._resync = True
            newest = -1
            missing = (
                "earlier lines cannot be shown" if self._top < 0 else f"lines after {self._position()} may be missing"
            )
            yield self.status(
                State.GAP, f"could not read the job's history ({e}); {missing}", gap_from=self._top_ts, gap_to=utcnow()
            )
        else:
            if not complete and found:
                start = min(found)
                if first:
                    yield self.status(
                        State.INFO, f"showing the job's last {len(found)} lines; older ones were not fetched"
                    )
                else:
                    yield self.status(
                        State.GAP,
                        f"lines {self._floor + 1}–{start - 1} were not fetched: more than {limit} lines were missed",
                        gap_from=self._top_ts,
                        gap_to=found[start].ts,
                    )
                self._skip_to(start - 1)
        self._history_newest = newest
        for seq in sorted(found):
            if self._is_new(seq):
                self._mark(seq, found[seq].ts)
                yield found[seq]
        if complete:
            gap_from = self._top_ts
            lost = self._skip_to(newest)  # history is complete up to `newest`: the rest never was
            if lost:
                yield self.status(
                    State.GAP, f"{lost} lines up to {newest} are missing from the job's history", gap_from=gap_from
                )
        self._hole_since = time.monotonic() if self._above else None

    async def _fill_after_end(self) -> AsyncIterator[Item]:
        """The last lines before `end` may only be in history, which can lag the live stream."""
        for attempt in range(END_FILL_TRIES):
            if attempt:
                await asyncio.sleep(END_FILL_DELAY)
            async for item in self._fill():
                yield item
            if self._resync or self._history_newest >= self._top:
                break
        if self._above:
            lost = self._skip_to(self._top)
            yield self.status(State.GAP, f"{lost} lines before the end never arrived", gap_from=self._top_ts)

    async def _history_page(self, cursor: str | None) -> tuple[list[Any], str | None]:
        params = {"cursor": cursor} if cursor else None
        body = bytearray()
        # a one-off request, not a stream: it may take longer than the stream's stall timeout
        stall = self.stall_timeout
        async with self.open(
            "GET",
            f"{self._job_path}/logs",
            params=params,
            headers={"Accept": "application/json"},
            read_timeout=None if stall is None else max(stall, HISTORY_READ_TIMEOUT),
        ) as resp:
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > HISTORY_BODY_LIMIT:
                    raise ServerError("the job's history page is larger than 32 MiB")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise ServerError("the job's history answer is not JSON") from None
        logs = data.get("logs") if isinstance(data, dict) else None
        if logs is None and isinstance(data, dict):
            logs = []  # an empty page: Go omits the empty list
        if not isinstance(logs, list):
            raise ServerError("the job's history answer has no `logs` list")
        nxt = data.get("cursor")
        return logs, nxt if isinstance(nxt, str) and nxt else None

    # --- decoding -----------------------------------------------------------------

    def _record(self, obj: dict[str, Any]) -> tuple[int | None, LogEvent]:
        """A log record as an event; its number (absent means 0, the first line) or None if unusable."""
        seq = _as_int(obj.get("sequence_num", 0))
        message = obj.get("message", "")
        text = sanitize(message if isinstance(message, str) else _json_text(message))
        stream = obj.get("stream")
        fields = {
            sanitize(k): sanitize(v if isinstance(v, str) else _json_text(v))
            for k, v in obj.items()
            if k not in _CORE_KEYS and v is not None
        }
        ev = self.event(
            text,
            _timestamp(obj.get("timestamp")),
            level=detect_level(text),  # stderr is not an error level: jobs log everything there
            stream=sanitize(stream) if isinstance(stream, str) and stream else None,
            seq=seq,
            fields=fields,
        )
        return seq, ev

    def _unparseable(self, data: str, why: str) -> LogEvent:
        return self.unparseable(data, why)

    # --- dedupe state -------------------------------------------------------------

    def _is_new(self, seq: int) -> bool:
        return seq > self._floor and seq not in self._above

    def _mark(self, seq: int, ts: datetime) -> None:
        if seq == self._floor + 1:
            self._floor = seq
            above = self._above
            while self._floor + 1 in above:
                self._floor += 1
                above.remove(self._floor)
        else:
            if not self._above:
                self._hole_since = time.monotonic()
            self._above.add(seq)
        if not self._above:
            self._hole_since = None
        if seq > self._top:
            self._top, self._top_ts = seq, ts

    def _skip_to(self, seq: int) -> int:
        """Count everything up to `seq` as done; returns how many of those lines were never delivered."""
        if seq <= self._floor:
            return 0
        done = {s for s in self._above if s <= seq}
        lost = seq - self._floor - len(done)
        self._above -= done
        self._floor = seq
        while self._floor + 1 in self._above:
            self._floor += 1
            self._above.remove(self._floor)
        return lost

    def _hole_overdue(self) -> bool:
        if not self._above or self._hole_since is None:
            return False
        return len(self._above) >= HOLE_MAX or time.monotonic() - self._hole_since >= HOLE_PATIENCE

    def _position(self) -> str:
        when = self._top_ts.strftime(" (%H:%M:%S)") if self._top_ts else ""
        return f"line {self._floor}{when}"


def _json_text(value: Any) -> str:
    """A non-string payload value as JSON text; one nested past Python's recursion limit is named, not raised."""
    try:
        return json.dumps(value)
    except (RecursionError, ValueError):
        return "[a JSON value nested too deeply to show]"


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)  # protojson writes 64-bit integers as strings
    return None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, str):
        return parse_ts(value)
    if isinstance(value, dict):  # a protobuf Timestamp marshalled as an object
        secs, nanos = value.get("seconds", 0), value.get("nanos", 0)
        try:
            return datetime.fromtimestamp(int(secs) + int(nanos) / 1e9, UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            return None
    return None


def _one_line(text: str, limit: int = 300) -> str:
    flat = " | ".join(part.strip() for part in sanitize(text).splitlines() if part.strip())
    if not flat:
        return "no detail given"
    return flat[:limit] + ("…" if len(flat) > limit else "")


__all__ = ["ChronoverseProvider"]
