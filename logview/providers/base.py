"""The contract every provider adapter fulfils.

An adapter knows one API: how to build its requests, decode its payloads,
and where to resume. It does not know about backoff, batching or screens:
the streamer (`logview.streaming`) calls `connect()` again and again, and an
adapter's job is to make each call pick up exactly where the last one left
off, yielding every line once.

Adapters never import textual (the TUI is one of two consumers).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import httpx

from logview.errors import (
    AuthError,
    FatalSourceError,
    NotFoundError,
    RateLimited,
    ServerError,
    SourceError,
    Stalled,
    StreamCut,
)
from logview.model import Item, Level, LogEvent, SourceStatus, State, utcnow

ERROR_BODY_LIMIT = 64 * 1024


class Provider(ABC):
    """One configured source of one provider.

    Lifecycle: the streamer creates it once, then calls `connect()` in a loop.
    Each call opens one connection (or, for polled APIs, one polling session)
    and yields `LogEvent`s and `SourceStatus`es until the server ends it.

    - Return normally when the server closed the stream. Set `self.finished`
      first if the source has ended for good (Chronoverse `end`, a file read
      without follow); otherwise the streamer reconnects.
    - Raise `FatalSourceError` (bad key, not found) to stop the source, or
      `RetryableError` (429, 5xx, cut, stall) to reconnect after a backoff
      (`retry_after` wins when set).
    - Keep the resume cursor on `self`, and dedupe what a reconnect replays:
      the promise is *no line lost, none repeated*. When loss is unavoidable,
      yield a `State.GAP` status saying what may be missing.
    """

    kind: ClassVar[str]
    stall_timeout: ClassVar[float | None] = 90.0
    """Seconds without a byte before the connection counts as stalled.
    None where silence is normal (Feldera sends nothing while idle)."""

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.client = client
        self._secret = secret
        self.finished = False
        self.retry_hint: float | None = None
        """Set by SSE adapters from the stream's `retry:` field (seconds)."""
        self.on_connected: Callable[[], None] | None = None
        """Set by the streamer; `open()` calls it once the server has answered 2xx
        (adapters that do not use `open()` call `self.connected()` themselves)."""

    def connected(self) -> None:
        """Tell the streamer the connection is up (the source is live)."""
        if self.on_connected is not None:
            self.on_connected()

    def __repr__(self) -> str:  # never show the secret
        return f"<{type(self).__name__} {self.name!r}>"

    @abstractmethod
    def connect(self) -> AsyncIterator[Item]:
        """Open one connection and yield what it carries (see the class docstring)."""

    async def connect_batches(self) -> AsyncIterator[list[Item]]:
        """`connect()` a list at a time: what the streamer reads.

        Adapters that decode a whole network chunk at once override this (and
        make `connect()` `flatten(self.connect_batches())`), so a chunk of a
        thousand lines costs one hand-over, not a thousand. Same items, same order.
        """
        items = self.connect()
        try:
            async for item in items:
                yield [item]
        finally:
            await _aclose(items)

    # --- helpers for adapters -------------------------------------------------

    def event(
        self,
        message: str,
        ts: datetime | None = None,
        *,
        level: Level | None = None,
        pod: str | None = None,
        stream: str | None = None,
        seq: int | str | None = None,
        fields: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> LogEvent:
        """A LogEvent of this source; `now` (the receive time) may be shared by a chunk's events."""
        if now is None:
            now = utcnow()
        return LogEvent(
            source=self.name,
            provider=self.kind,
            message=message,
            ts=ts or now,
            level=level,
            pod=pod,
            stream=stream,
            seq=seq,
            fields=fields if fields is not None else {},
            received=now,
        )

    def unparseable(
        self,
        raw: str,
        why: str,
        *,
        pod: str | None = None,
        seq: int | str | None = None,
        ts: datetime | None = None,
        now: datetime | None = None,
    ) -> LogEvent:
        """Input the adapter could not decode, as a visible WARN event: never dropped.

        The message is the raw text (made safe to print); `fields` say so the
        same way for every provider: `{"logview": "unparseable", "why": ...}`.
        """
        from logview.text import sanitize

        return self.event(
            sanitize(raw),
            ts,
            level=Level.WARN,
            pod=pod,
            seq=seq,
            fields={"logview": "unparseable", "why": sanitize(why)[:200]},
            now=now,
        )

    def status(self, state: State, message: str = "", **kw: Any) -> SourceStatus:
        return SourceStatus(source=self.name, state=state, message=message, **kw)

    def auth_headers(self) -> dict[str, str]:
        """Headers that carry the secret; `Bearer` unless the provider says otherwise."""
        return {"Authorization": f"Bearer {self._secret}"} if self._secret else {}

    def url(self, path: str) -> str:
        return f"{self.spec.url_root}{path}"

    def timeout(self, read: float | None = None) -> httpx.Timeout:
        """15 s to connect; `read` (default: the stall timeout) between bytes."""
        import httpx  # not at module level: a file-only session never loads it

        return httpx.Timeout(15.0, read=self.stall_timeout if read is None else read)

    @asynccontextmanager
    async def open(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        expect: str | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Open a streamed request; raise the right `SourceError` for any failure.

        Non-2xx answers become AuthError / NotFoundError / RateLimited /
        ServerError with the server's own explanation; transport failures
        (also those while the caller reads the body) become StreamCut or
        Stalled. `expect` checks the content type's start (e.g.
        "text/event-stream") so an HTML or JSON answer is not parsed as a stream.
        `read_timeout` replaces the stall timeout for this one request.
        """
        import httpx

        assert self.client is not None
        hdrs = {**self.auth_headers(), **(headers or {})}
        try:
            async with self.client.stream(
                method,
                self.url(path),
                params=params,
                json=json_body,
                headers=hdrs,
                cookies=dict(cookies) if cookies else None,
                timeout=self.timeout(read_timeout),
            ) as resp:
                if resp.status_code >= 300:
                    body = await _read_limited(resp)
                    raise self.http_error(resp.status_code, resp.headers, body)
                ctype = resp.headers.get("content-type", "")
                if expect and not ctype.startswith(expect):
                    body = await _read_limited(resp)
                    raise ServerError(
                        f"expected {expect} but the server sent {ctype or 'no content type'}: {_snippet(body)}"
                    )
                self.connected()
                yield resp
        except httpx.TimeoutException as e:
            waited = read_timeout or self.stall_timeout or 15
            raise Stalled(f"no data for {waited:g}s ({type(e).__name__})") from None
        except httpx.TransportError as e:
            raise StreamCut(f"connection lost ({type(e).__name__}: {_plain(e)})") from None

    # --- errors ---------------------------------------------------------------

    def error_detail(self, body: bytes) -> str:
        """The server's explanation from an error body (override per API)."""
        return _generic_detail(body)

    def key_hint(self) -> str:
        env = self.spec.key_env
        return f"check that {env} holds a valid key" if env else "check the credential"

    def not_found_hint(self) -> str:
        return "check the ids in the source's configuration"

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> SourceError:
        """The SourceError for an HTTP status, worded for the person at the terminal."""
        import httpx

        detail = self.error_detail(body)
        reason = httpx.codes.get_reason_phrase(status) or "error"
        said = f"{status} {reason}" + (f": {detail}" if detail else "")
        if status == 401:
            return AuthError(f"wrong or expired key ({said}); {self.key_hint()}")
        if status == 403:
            return AuthError(f"key not allowed here ({said}); {self.key_hint()}")
        if status == 404:
            return NotFoundError(f"not found ({said}); {self.not_found_hint()}")
        if 300 <= status < 400:
            return FatalSourceError(_redirect_message(status, reason, self.url(""), headers.get("location")))
        if status == 429:
            ra = _retry_after(headers.get("retry-after"))
            return RateLimited(f"rate limited ({said})", retry_after=ra)
        if status >= 500 or status == 408:
            return ServerError(f"server error ({said})", retry_after=_retry_after(headers.get("retry-after")))
        return FatalSourceError(f"request refused ({said})")


async def flatten(batches: AsyncIterator[list[Item]]) -> AsyncIterator[Item]:
    """The items of `connect_batches()` one by one (an adapter's `connect()`)."""
    try:
        async for batch in batches:
            for item in batch:
                yield item
    finally:
        await _aclose(batches)


async def _aclose(it: AsyncIterator[Any]) -> None:
    """Close an async generator now (its `async with` blocks exit), not whenever it is collected."""
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


def _redirect_message(status: int, reason: str, base: str, location: str | None) -> str:
    """Where a 3xx points, by host only: a Location's path and query may carry tokens."""
    import httpx

    from logview.text import sanitize

    target: str | None = None
    if location:
        try:
            url = httpx.URL(base).join(location.strip())
            target = url.host + (f":{url.port}" if url.port is not None else "")
        except (httpx.InvalidURL, ValueError, TypeError):
            target = None
    if target:
        where = f"the server redirected to {sanitize(target)[:200]} ({status} {reason})"
    else:
        where = f"the server answered with a redirect ({status} {reason}) without a usable Location"
    return f"{where}; logview does not follow redirects (the key is never sent elsewhere): set base_url to the final address"


def _plain(e: Exception) -> str:
    text = str(e) or "no detail"
    return text.splitlines()[0][:200]


async def _read_limited(resp: httpx.Response) -> bytes:
    import httpx

    out = bytearray()
    try:
        async for chunk in resp.aiter_bytes():
            out += chunk
            if len(out) >= ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass
    return bytes(out[:ERROR_BODY_LIMIT])


def _snippet(body: bytes, limit: int = 160) -> str:
    from logview.text import sanitize

    text = sanitize(body.decode("utf-8", errors="replace")).strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")


def _generic_detail(body: bytes) -> str:
    """Common error body shapes: problem+json, {"error": {...}}, {"message"}, text."""
    if not body.strip():
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return _snippet(body)
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return _snippet(str(err.get("message") or err.get("type") or "").encode())
        for key in ("detail", "message", "error_message", "title", "error"):
            val = data.get(key)
            if isinstance(val, str) and val:
                return _snippet(val.encode())
    return _snippet(body)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(float(value), 3600.0))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, min((when - utcnow()).total_seconds(), 3600.0))


__all__ = ["ERROR_BODY_LIMIT", "Provider", "flatten"]
