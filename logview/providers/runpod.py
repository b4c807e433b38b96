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
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from logview.model import Item, LogEvent, State
from logview.providers.base import Provider
from logview.sse import SSEDecoder, SSEvent
from logview.text import detect_level, parse_ts, sanitize

_SAME_KEY_LIMIT = 10_000
"""Fingerprints kept for records sharing one resume position (bare-ts ids)."""

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

    async def connect(self) -> AsyncIterator[Item]:
        spec = self.spec
        path = f"/v2/serverless/{quote(spec.endpoint_id, safe='')}/workers/{quote(spec.worker_id, safe='')}/logs"
        params, headers = self._request()
        boundary = self._delivered
        decoder = SSEDecoder()
        async with self.open("GET", path, params=params, headers=headers, expect="text/event-stream") as resp:
            if boundary and not headers and "since" not in params:
                yield self.status(
                    State.GAP,
                    "the stream gave no resumable id or timestamp: lines sent while disconnected may be missing",
                    gap_from=self._last_seen,
                )
            async for chunk in resp.aiter_bytes():
                events = decoder.feed(chunk)
                if decoder.retry is not None:
                    self.retry_hint = decoder.retry / 1000
                for ev in events:
                    if not ev.data:
                        continue  # a heartbeat that became an empty event
                    item, ts_raw = self.decode(ev)
                    pos = _position(ev.id, item.ts if ts_raw is not None else None)
                    fingerprint = (ev.id, ev.data)
                    if boundary:
                        if self._replayed(pos, fingerprint):
                            continue
                        boundary = False
                    self._remember(ev.id, ts_raw, pos, fingerprint)
                    self._last_seen = item.ts
                    yield item

    def decode(self, ev: SSEvent) -> tuple[LogEvent, str | None]:
        """The event for one frame, and its payload `ts` when it parsed.

        Never raises: malformed JSON or a wrong shape becomes a visible
        "unparseable" event carrying the raw data.
        """
        worker = self.spec.worker_id
        try:
            payload = json.loads(ev.data)
        except (ValueError, RecursionError):
            payload = None
        if isinstance(payload, dict):
            line, source, ts_raw = payload.get("line"), payload.get("source"), payload.get("ts")
            if isinstance(line, str) and isinstance(source, str | None) and isinstance(ts_raw, str | None):
                ts = parse_ts(ts_raw)
                event = self.event(
                    sanitize(line),
                    ts,
                    level=detect_level(line),
                    pod=worker,
                    stream=sanitize(source) if source is not None else None,
                    seq=ev.id,
                )
                return event, ts_raw if ts is not None else None
        event = self.event(sanitize(ev.data), pod=worker, seq=ev.id, fields={"logview": "unparseable"})
        return event, None

    def _replayed(self, pos: Position | None, fingerprint: tuple[str | None, str]) -> bool:
        """Whether a record at the start of a resumed connection was delivered already."""
        if fingerprint in self._at_last:
            return True
        if pos is None or self._last_pos is None:
            return False
        return pos < self._last_pos

    def _remember(
        self, id_: str | None, ts_raw: str | None, pos: Position | None, fingerprint: tuple[str | None, str]
    ) -> None:
        self._delivered = True
        if id_ is not None:
            self._cursor = id_
        if ts_raw is not None:
            self._last_ts = ts_raw
        if pos is None:
            return
        if pos != self._last_pos:
            self._last_pos = pos
            self._at_last = set()
        if len(self._at_last) < _SAME_KEY_LIMIT:
            self._at_last.add(fingerprint)


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
