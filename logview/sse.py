"""A Server-Sent Events decoder that works on bytes, exactly to the spec.

httpx-sse 0.4.3 has gaps that lose or invent events (see PROVIDER-NOTES): a
UTF-8 BOM hides the first event, a heartbeat comment after an `id:` yields an
empty event, `retry:` takes signs. This decoder fixes those, decodes UTF-8
with replacement (a bad byte never kills a stream) and bounds a line's size
so one 10 MB line is cut, marked, and the stream goes on. httpx-sse stays the
reference it is tested against and the baseline it is benchmarked against.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_LINE_BYTES = 16 * 1024 * 1024
"""A longer field line is cut to this size (the rest is dropped, marked)."""

TRUNCATED_MARK = " [… line cut by logview: longer than 16 MiB]"


@dataclass(slots=True)
class SSEvent:
    event: str
    data: str
    id: str | None
    retry: int | None


class SSEDecoder:
    """Feed it byte chunks; it returns complete events.

    `last_id` is the stream's last event id (it persists across events, as
    the spec says), which a reconnect sends back as `Last-Event-ID`.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._buf = bytearray()
        self._first = True
        self._max_line = max_line
        self._skipping = False  # inside an over-long line, dropping bytes
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._saw_field = False
        self.last_id: str | None = None
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEvent]:
        out: list[SSEvent] = []
        buf = self._buf
        buf += chunk
        if self._first:
            if len(buf) < 3 and b"\xef\xbb\xbf".startswith(bytes(buf)):
                return out
            if buf.startswith(b"\xef\xbb\xbf"):
                del buf[:3]
            self._first = False
        start = 0
        n = len(buf)
        while start < n:
            nl = buf.find(b"\n", start)
            cr = buf.find(b"\r", start, nl if nl >= 0 else n)
            if cr >= 0:
                end = cr
                if cr + 1 < n:
                    nxt = cr + 2 if buf[cr + 1] == 0x0A else cr + 1
                elif nl < 0:
                    break  # a lone CR at the end: wait to see if LF follows
                else:
                    nxt = cr + 1
            elif nl >= 0:
                end, nxt = nl, nl + 1
            else:
                break
            if self._skipping:
                self._skipping = False
            else:
                self._line(bytes(buf[start:end]), out)
            start = nxt
        del buf[:start]
        if len(buf) > self._max_line:
            if not self._skipping:
                self._line(bytes(buf[: self._max_line]), out, truncated=True)
                self._skipping = True
            buf.clear()
        return out

    def flush(self) -> list[SSEvent]:
        """End of stream: a partial event without its blank line is dropped (per spec)."""
        self._buf.clear()
        self._reset()
        return []

    def _reset(self) -> None:
        self._event = ""
        self._data = []
        self._retry = None
        self._saw_field = False

    def _line(self, raw: bytes, out: list[SSEvent], truncated: bool = False) -> None:
        if not raw:
            if self._data:
                out.append(SSEvent(self._event or "message", "\n".join(self._data), self.last_id, self._retry))
            self._reset()
            return
        if raw[0] == 0x3A:  # ':' comment / heartbeat
            return
        line = raw.decode("utf-8", errors="replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if truncated:
            value += TRUNCATED_MARK
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self.last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = self.retry = int(value)


async def aiter_sse(chunks: AsyncIterator[bytes], decoder: SSEDecoder | None = None) -> AsyncIterator[SSEvent]:
    """Events from an async iterator of byte chunks (e.g. `response.aiter_bytes()`)."""
    dec = decoder or SSEDecoder()
    async for chunk in chunks:
        for ev in dec.feed(chunk):
            yield ev
