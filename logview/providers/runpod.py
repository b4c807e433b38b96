"""RunPod serverless worker logs: SSE, resumed by the opaque event id.

The id looks like `2026-06-01T12:05:04Z/000000000042`: a second-resolution
time plus a counter. Hundreds of lines can share that second, so resuming
with `since=<ts>` would repeat or skip some; every reconnect sends the last
id exactly as received as `Last-Event-ID`, and still drops whatever the
server replays at the boundary. A frame we cannot decode is shown, not lost.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from logview.model import Item, LogEvent, State, utcnow
from logview.providers.base import Provider, flatten
from logview.sse import SSEDecoder, SSEvent
from logview.text import detect_level, parse_ts, sanitize

_SAME_KEY_LIMIT = 10_000
"""Fingerprints kept for records sharing one resume position (bare-ts ids)."""

_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The C scanner `json.loads` runs, without its Python wrapper (same objects)."""


class _Record(msgspec.Struct):
    """A frame's payload as RunPod sends it; other keys are ignored."""

    line: str
    source: str | None = None
    ts: str | None = None


_read_record = msgspec.json.Decoder(_Record).decode
"""Decodes and checks the shape in one C call, several times faster than `json.loads` and `.get`s."""

Position = tuple[datetime, int]
"""Where a record sits in the stream: (time, counter); counter -1 when unknown."""


class RunPodProvider(Provider):
    """One worker's log stream (`GET /v2/serverless/{id}/workers/{workerId}/logs`)."""

    kind = "runpod"
    stall_timeout = 45.0
    """Three keep-alive intervals (RunPod comments every 15 s while idle)."""

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._cursor: str | None = None
        """The last delivered record's id, exactly as received."""
        self._last_ts: str | None = None
        """The last delivered record's payload `ts` (a `since=` fallback)."""
        self._last_pos: Position | None = None
        self._at_last: set[tuple[str | None, str]] = set()
        """(id, data) of the delivered records at `_last_pos`."""
        self._delivered = False
        self._boundary = False
        """At the start of a resumed connection, until the first new record."""
        self._last_seen: datetime | None = None

    def not_found_hint(self) -> str:
        spec = self.spec
        return (
            f"worker {spec.worker_id} of endpoint {spec.endpoint_id} is gone or does not exist "
            "(RunPod removes a worker's logs when it terminates); pick a current worker "
            "from the endpoint's workers list"
        )

    def key_hint(self) -> str:
        return (
            f"{super().key_hint()}; note that RunPod's v2 API may also answer 401/403 "
            "for accounts not yet enabled for it"
        )

    def error_detail(self, body: bytes) -> str:
        """problem+json `detail`, plus the `errors[]` entries when there are any."""
        detail = super().error_detail(body)
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return detail
        errors = data.get("errors") if isinstance(data, dict) else None
        if not isinstance(errors, list) or not errors:
            return detail
        parts = []
        for err in errors[:5]:
            if isinstance(err, dict):
                field, msg = err.get("field"), err.get("message") or err.get("detail")
                parts.append(f"{field}: {msg}" if field else str(msg))
            else:
                parts.append(str(err))
        return sanitize(f"{detail} ({'; '.join(parts)})")[:400]

    def _request(self) -> tuple[dict[str, str], dict[str, str]]:
        """Query and headers: the spec's tail/since first, the received cursor after."""
        spec = self.spec
        params: dict[str, str] = {}
        headers: dict[str, str] = {}
        if spec.source:
            params["source"] = spec.source
        if not self._delivered:
            if spec.since:
                params["since"] = spec.since
            if spec.tail is not None:
                params["tail"] = str(spec.tail)
            return params, headers
        if self._cursor is not None and self._cursor.isascii() and self._cursor.isprintable():
            headers["Last-Event-ID"] = self._cursor
        # also for servers that ignore the header; the header wins where it is honoured
        if self._last_ts is not None:
            params["since"] = self._last_ts
        elif not headers:
            params["tail"] = "0"
        return params, headers

    def connect(self) -> AsyncIterator[Item]:
        return flatten(self.connect_batches())

    async def connect_batches(self) -> AsyncIterator[list[Item]]:
        spec = self.spec
        path = f"/v2/serverless/{quote(spec.endpoint_id, safe='')}/workers/{quote(spec.worker_id, safe='')}/logs"
        params, headers = self._request()
        self._boundary = self._delivered
        decoder = SSEDecoder()
        async with self.open("GET", path, params=params, headers=headers, expect="text/event-stream") as resp:
            if self._boundary and not headers and "since" not in params:
                yield [
                    self.status(
                        State.GAP,
                        "the stream gave no resumable id or timestamp: lines sent while disconnected may be missing",
                        gap_from=self._last_seen,
                    )
                ]
            async for chunk in resp.aiter_bytes():
                events = decoder.feed(chunk)
                if decoder.retry is not None:
                    self.retry_hint = decoder.retry / 1000
                if events:
                    items = self.decode_frames(events)
                    if items:
                        yield items

    def decode_frames(self, events: list[SSEvent]) -> list[Item]:
        """The new records among one chunk's frames, with the cursor moved past them.

        At the start of a resumed connection, frames the server replays from
        before the cursor are dropped (`_replayed`).
        """
        items: list[Item] = []
        frames: list[SSEvent] = []
        times: list[str | None] = []
        now = utcnow()
        decode = self.decode
        for ev in events:
            if not ev.data:
                continue  # a heartbeat that became an empty event
            item, ts_raw = decode(ev, now)
            if self._boundary:
                if self._replayed(_position(ev.id, item.ts if ts_raw is not None else None), (ev.id, ev.data)):
                    continue
                self._boundary = False
            items.append(item)
            frames.append(ev)
            times.append(ts_raw)
        if items:
            self._remember(frames, items, times)
        return items

    def _remember(self, frames: list[SSEvent], items: list[Item], times: list[str | None]) -> None:
        """Move the cursor past the records just delivered (their frames, events and payload `ts`).

        Where to resume depends only on the last of them, so this works back
        from the end, once per chunk, rather than keeping books per record.
        """
        self._delivered = True
        last = items[-1]
        assert isinstance(last, LogEvent)
        self._last_seen = last.ts
        self._cursor = next((ev.id for ev in reversed(frames) if ev.id is not None), self._cursor)
        self._last_ts = next((t for t in reversed(times) if t is not None), self._last_ts)
        # the records at the newest position: the chunk's trailing run of it, newest first
        newest: Position | None = None
        run: list[tuple[str | None, str]] = []
        whole = True  # the run goes back to the chunk's first record
        for ev, item, ts_raw in zip(reversed(frames), reversed(items), reversed(times), strict=True):
            assert isinstance(item, LogEvent)
            pos = _position(ev.id, item.ts if ts_raw is not None else None)
            if pos is None:
                continue
            if newest is None:
                newest = pos
            elif pos != newest:
                whole = False
                break
            run.append((ev.id, ev.data))
        if newest is None:
            return  # no record had a position: the last one known stands
        at_last = self._at_last if whole and newest == self._last_pos else set()
        for fingerprint in reversed(run):
            if len(at_last) >= _SAME_KEY_LIMIT:
                break
            at_last.add(fingerprint)
        self._at_last = at_last
        self._last_pos = newest

    def decode(self, ev: SSEvent, now: datetime | None = None) -> tuple[LogEvent, str | None]:
        """The event for one frame, and its payload `ts` when it parsed.

        Never raises: malformed JSON or a wrong shape becomes a visible
        "unparseable" event carrying the raw data.
        """
        try:
            record = _read_record(ev.data)
        except (ValueError, RecursionError):
            # msgspec refuses a little that json takes (NaN, lone surrogates): json decides, and says why
            return self._decode_json(ev, now)
        return self._record(record.line, record.source, record.ts, ev.id, now)

    def _decode_json(self, ev: SSEvent, now: datetime | None) -> tuple[LogEvent, str | None]:
        data = ev.data
        payload: Any = None
        why = ""
        try:
            try:
                payload, end = _scan(data, 0)
            except StopIteration:  # leading whitespace, or nothing JSON at all: the full parser says which
                payload = json.loads(data)
            else:
                if end != len(data):
                    payload = json.loads(data)  # trailing whitespace is fine, anything else raises
        except (ValueError, RecursionError) as e:
            payload = None
            why = _json_error(e)
        if type(payload) is dict:
            line, source, ts_raw = payload.get("line"), payload.get("source"), payload.get("ts")
            if (
                type(line) is str
                and (source is None or type(source) is str)
                and (ts_raw is None or type(ts_raw) is str)
            ):
                return self._record(line, source, ts_raw, ev.id, now)
        return self.unparseable(data, why or _shape_error(payload), pod=self.spec.worker_id, seq=ev.id, now=now), None

    def _record(
        self, line: str, source: str | None, ts_raw: str | None, id_: str | None, now: datetime | None
    ) -> tuple[LogEvent, str | None]:
        """The event for a well-formed payload, and its `ts` when it parsed."""
        ts = parse_ts(ts_raw)
        if now is None:
            now = utcnow()
        event = LogEvent(
            self.name,
            self.kind,
            sanitize(line),
            ts or now,
            detect_level(line),
            self.spec.worker_id,
            sanitize(source) if source is not None else None,
            id_,
            {},
            now,
        )
        return event, ts_raw if ts is not None else None

    def _replayed(self, pos: Position | None, fingerprint: tuple[str | None, str]) -> bool:
        """Whether a record at the start of a resumed connection was delivered already."""
        if fingerprint in self._at_last:
            return True
        if pos is None or self._last_pos is None:
            return False
        return pos < self._last_pos


def _json_error(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"not JSON ({e.msg}, character {e.pos})"
    return "not JSON (nested too deeply)" if isinstance(e, RecursionError) else "not JSON"


def _shape_error(payload: Any) -> str:
    if not isinstance(payload, dict):
        return f"a JSON {type(payload).__name__}, not an object"
    return "no string `line`, or a `source`/`ts` that is not a string"


@functools.lru_cache(maxsize=64)
def _id_time(prefix: str) -> datetime | None:
    """The time in an id's `<ts>/` prefix. Second-resolution and shared by
    every record of that second, so it is parsed once, not per event."""
    return parse_ts(prefix)


def _position(id_: str | None, ts: datetime | None) -> Position | None:
    """A record's order: from a `<ts>/<counter>` or bare-ts id, else its payload time."""
    if id_:
        prefix, sep, counter = id_.rpartition("/")
        if sep and counter.isascii() and counter.isdigit():
            at = _id_time(prefix)
            if at is not None:
                return at, int(counter)
        elif not sep:
            at = parse_ts(id_)
            if at is not None:
                return at, -1
    return (ts, -1) if ts is not None else None


__all__ = ["RunPodProvider"]
