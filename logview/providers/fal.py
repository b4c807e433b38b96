"""fal serverless logs: `POST /v1/serverless/logs/stream`, SSE, label filters in the body.

fal's frames carry no `id:`, so the only cursor is the `start` query
parameter, and it is a timestamp that several entries may share. A resumed
connection therefore asks for `start=<last timestamp seen>` and skips the
entries at that very timestamp it already delivered, counted as a multiset
so two identical lines at one instant both survive. Where fal's own CLI
raises on `event: error` and silently drops JSON it cannot parse, this
adapter shows both and keeps reading.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx

from logview.model import Item, State
from logview.providers.base import Provider
from logview.sse import SSEDecoder
from logview.text import STREAM_LEVELS, detect_level, format_ts, parse_level, parse_ts, sanitize

Fingerprint = tuple[str, ...]
"""What tells two entries at one timestamp apart: everything but the timestamp."""

STATUS_TEXT_LIMIT = 500


class FalProvider(Provider):
    """One fal log stream (an app, a revision, a job, ... as the spec filters)."""

    kind = "fal"
    stall_timeout = 6.0
    """Three heartbeat intervals (fal sends `: keep-alive` every 2 s while idle)."""

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._cursor: datetime | None = None
        """Latest entry timestamp delivered: the next connection's `start`."""
        self._at_cursor: Counter[Fingerprint] = Counter()
        """Entries delivered at exactly `_cursor` (a multiset)."""

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._secret}"} if self._secret else {}

    def key_hint(self) -> str:
        env = self.spec.key_env or "FAL_KEY"
        return f"check that {env} holds a valid fal key (key_id:key_secret)"

    def error_detail(self, body: bytes) -> str:
        """fal's `{"error": {"type", "message"}}`, with the type when it says more."""
        try:
            err = json.loads(body).get("error")
        except (ValueError, AttributeError):
            err = None
        if isinstance(err, dict) and isinstance(err.get("type"), str) and isinstance(err.get("message"), str):
            return sanitize(f"{err['type']}: {err['message']}")[:300]
        return super().error_detail(body)

    def params(self) -> dict[str, str | list[str]]:
        """Query parameters: the spec's filters, and `start` resuming where we left off."""
        s = self.spec
        start = format_ts(self._cursor) if self._cursor is not None else s.start
        out: dict[str, str | list[str]] = {"app_id": list(s.app_id)} if s.app_id else {}
        for name, value in (
            ("start", start),
            ("end", s.end),
            ("revision", s.revision),
            ("run_source", s.run_source),
            ("search", s.search),
            ("level", s.level),
            ("job_id", s.job_id),
            ("request_id", s.request_id),
        ):
            if value:
                out[name] = value
        if s.traceback is not None:
            out["traceback"] = "true" if s.traceback else "false"
        return out

    def body(self) -> list[dict[str, Any]]:
        return [f.model_dump(exclude_none=True) for f in self.spec.filters]

    async def connect(self) -> AsyncIterator[Item]:
        replay_from = self._cursor
        replayed = Counter(self._at_cursor)
        delivered = 0
        decoder = SSEDecoder()
        async with self.open(
            "POST", self.spec.path, params=self.params(), json_body=self.body(), expect="text/event-stream"
        ) as resp:
            async for chunk in resp.aiter_bytes():
                for sse in decoder.feed(chunk):
                    if decoder.retry is not None:
                        self.retry_hint = decoder.retry / 1000
                    if not sse.data:
                        continue  # heartbeats and empty frames
                    if sse.event == "error":
                        text = " ".join(sanitize(sse.data).split())[:STATUS_TEXT_LIMIT]
                        yield self.status(State.INFO, f"fal reported an error in the stream: {text}")
                        continue
                    item = self._entry(sse.data, replay_from, replayed)
                    if item is not None:
                        delivered += 1
                        yield item
        if self.spec.end and delivered == 0:
            self.finished = True  # a bounded query that has nothing more to give

    def _entry(self, data: str, replay_from: datetime | None, replayed: Counter[Fingerprint]) -> Item | None:
        """The event for one frame, or None when a resumed connection repeats it."""
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError) as e:
            return self.unparseable(data, f"not JSON ({_why(e)})")
        if not isinstance(doc, dict):
            return self.unparseable(data, f"a JSON {type(doc).__name__}, not an object")
        if not isinstance(doc.get("message"), str):
            return self.unparseable(data, "no string `message`")
        raw_level = str(doc.get("level") or "")
        message = sanitize(doc["message"])
        labels = doc.get("labels")
        fields = (
            {sanitize(str(k)): sanitize(str(v)) for k, v in labels.items() if v is not None}
            if isinstance(labels, dict)
            else {}
        )
        for key in ("app", "revision"):
            if doc.get(key) is not None:
                fields[key] = sanitize(str(doc[key]))
        stamp = doc.get("timestamp")
        ts = parse_ts(stamp) if isinstance(stamp, str) else None
        if ts is not None and not self._is_new(ts, _fingerprint(raw_level, message, fields), replay_from, replayed):
            return None
        if raw_level.lower() in STREAM_LEVELS:
            stream: str | None = raw_level.lower()
            level = detect_level(message)
        else:
            stream = None
            level = parse_level(raw_level) or detect_level(message)
        return self.event(message, ts, level=level, pod=fields.get("fal_worker_id"), stream=stream, fields=fields)

    def _is_new(
        self, ts: datetime, fp: Fingerprint, replay_from: datetime | None, replayed: Counter[Fingerprint]
    ) -> bool:
        """Whether to deliver an entry; moves the cursor past it when so.

        A resumed connection starts at `replay_from`: what is older was
        delivered before, and at that very timestamp the entries delivered
        before come again once each (`replayed` counts them off).
        """
        if replay_from is not None:
            if ts < replay_from:
                return False
            if ts == replay_from and replayed[fp] > 0:
                replayed[fp] -= 1
                return False
        if self._cursor is None or ts > self._cursor:
            self._cursor = ts
            self._at_cursor = Counter({fp: 1})
        elif ts == self._cursor:
            self._at_cursor[fp] += 1
        return True  # older than the cursor on a live connection: out of order, still new


def _fingerprint(level: str, message: str, fields: dict[str, str]) -> Fingerprint:
    return (level, message, *(f"{k}={v}" for k, v in sorted(fields.items())))


def _why(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"{e.msg}, character {e.pos}"
    return "nested too deeply" if isinstance(e, RecursionError) else type(e).__name__


__all__ = ["FalProvider"]
