"""A Server-Sent Events decoder that works on bytes, exactly to the spec.

httpx-sse 0.4.3 has gaps that lose or invent events (see PROVIDER-NOTES): a
UTF-8 BOM hides the first event, a heartbeat comment after an `id:` yields an
empty event, `retry:` takes signs. This decoder fixes those, decodes UTF-8
with replacement (a bad byte never kills a stream) and bounds a line's size
so one 10 MB line is cut, marked, and the stream goes on. httpx-sse stays the
reference it is tested against and the baseline it is benchmarked against.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from msgspec import Struct

MAX_LINE_BYTES = 16 * 1024 * 1024
"""A longer field line is cut to this size (the rest is dropped, marked)."""

TRUNCATED_MARK = " [… line cut by logview: longer than 16 MiB]"

_BOM = b"\xef\xbb\xbf"
_COMMON_FRAME = re.compile(rb"id: ([^\n\x00]*)\ndata: ([^\n]*)\n\n")
"""The frame nearly every event comes in (no NUL in the id: such an id is ignored, the long way)."""
_COMMON_RUN = re.compile(rb"(?:id: [^\n\x00]*\ndata: [^\n]*\n\n)+")
_COMMON_FRAME_TEXT = re.compile(r"id: ([^\n\x00]*)\ndata: ([^\n]*)\n\n")
"""A run of common frames, matched as bytes, then split as text."""
_MAX_RETRY_DIGITS = 15
"""A longer `retry:` value is no delay anyone means; ignoring it also keeps int() bounded."""


class SSEvent(Struct, gc=False):
    """One event; a struct built in C and untracked by the garbage collector, as `LogEvent` (see there)."""

    event: str
    data: str
    id: str | None
    retry: int | None


class SSEDecoder:
    """Feed it byte chunks; it returns complete events.

    `last_id` is the id of the last complete event block (it persists across
    events, as the spec says): what a reconnect sends back as `Last-Event-ID`.
    An `id:` inside a block cut off by a dropped connection does not count,
    since that event was never received. `retry` is the last valid `retry:`.
    Events without any `data:` line (heartbeats, bare ids) are not returned.
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES) -> None:
        self._max_line = max(1, max_line)
        self._buf = bytearray()
        self._first = True  # a BOM may still come
        self._skip_lf = False  # the last line ended with CR: a leading LF is its pair
        self._skipping = False  # inside an over-long line, dropping bytes
        self._event = ""
        self._data: list[str] = []
        self._retry: int | None = None
        self._id_buf: str | None = None
        self.last_id: str | None = None
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEvent]:
        out: list[SSEvent] = []
        buf = self._buf
        scan = len(buf)  # the bytes held from before hold no line end
        buf += chunk
        if self._first:
            if len(buf) < 3 and _BOM.startswith(buf):
                return out
            if buf.startswith(_BOM):
                del buf[:3]
                scan = 0
            self._first = False
        if self._skip_lf and buf:
            self._skip_lf = False
            if buf[0] == 0x0A:
                del buf[:1]
        end = max(buf.rfind(b"\n", scan), buf.rfind(b"\r", scan)) + 1
        if end:
            # The complete lines, split in C; a CR ending the buffer may pair with an LF still to come.
            region = bytes(buf[:end])
            del buf[:end]
            self._skip_lf = not buf and region[-1] == 0x0D
            if b"\r" in region:
                region = region.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            self._lines(region, out)
        if self._skipping:
            buf.clear()
        elif len(buf) > self._max_line:
            self._line(_cut(bytes(buf[: self._max_line + 4]), self._max_line), out, truncated=True)
            self._skipping = True
            buf.clear()
        return out

    def _lines(self, region: bytes, out: list[SSEvent]) -> None:
        """Complete `\n`-ended lines, in order.

        The common frame, `id: X\ndata: Y\n\n` arriving while no event is
        half-read, is decoded whole, and a run of them at once (two regex
        calls and one UTF-8 decode for the run); anything else
        (comments, `event:`, `retry:`, several data lines, long lines, ...)
        goes line by line through `_line`, up to the next blank line. Both
        give the same events: the fast path only takes frames whose meaning
        is plain.
        """
        limit = self._max_line
        pos = 0
        end = len(region)
        while pos < end:
            if not self._data and not self._skipping:
                if self._event or self._retry is not None:
                    # the one frame an `event:` or `retry:` line before it belongs to
                    m = _COMMON_FRAME.match(region, pos)
                    if m is not None and m.end() - pos <= limit:
                        raw_id, raw_data = m.group(1, 2)
                        self._id_buf = self.last_id = last_id = raw_id.decode("utf-8", errors="replace")
                        data = raw_data.decode("utf-8", errors="replace")
                        out.append(SSEvent(self._event or "message", data, last_id, self._retry))
                        self._reset()
                        pos = m.end()
                        continue
                else:
                    run = _COMMON_RUN.match(region, pos)
                    if run is not None and run.end() - pos <= limit:
                        # Decoded in one piece: UTF-8 resynchronises at every ASCII byte, so each
                        # id and data is the text that decoding it alone would give.
                        text = region[pos : run.end()].decode("utf-8", errors="replace")
                        frames = _COMMON_FRAME_TEXT.findall(text)
                        out.extend([SSEvent("message", data, id_, None) for id_, data in frames])
                        self._id_buf = self.last_id = frames[-1][0]
                        pos = run.end()
                        continue
            stop = region.find(b"\n\n", pos)
            frame_end = end if stop < 0 else stop + 2  # up to and with the next blank line
            lines = region[pos:frame_end].split(b"\n")
            lines.pop()
            for raw in lines:
                if self._skipping:
                    self._skipping = False
                elif len(raw) > limit:
                    self._line(_cut(raw, limit), out, truncated=True)
                else:
                    self._line(raw, out)
            pos = frame_end

    def flush(self) -> list[SSEvent]:
        """End of a connection: a partial event without its blank line is dropped (per spec).

        The decoder is then ready for the next connection; `last_id` and
        `retry` carry over, as a reconnect needs them.
        """
        self._buf.clear()
        self._first = True
        self._skip_lf = False
        self._skipping = False
        self._reset()
        return []

    def _reset(self) -> None:
        self._event = ""
        self._data = []
        self._retry = None

    def _line(self, raw: bytes, out: list[SSEvent], truncated: bool = False) -> None:
        if not raw:
            self.last_id = self._id_buf
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
        if name == "data":
            self._data.append(value + TRUNCATED_MARK if truncated else value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\x00" not in value and not truncated:  # a cut id would resume from the wrong place
            self._id_buf = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= _MAX_RETRY_DIGITS:
            self._retry = self.retry = int(value)


def _cut(raw: bytes, limit: int) -> bytes:
    """The first `limit` bytes of `raw`, not splitting a UTF-8 character."""
    cut = limit
    while cut > 0 and cut > limit - 4 and cut < len(raw) and raw[cut] & 0xC0 == 0x80:
        cut -= 1
    return raw[:cut]


async def aiter_sse(chunks: AsyncIterator[bytes], decoder: SSEDecoder | None = None) -> AsyncIterator[SSEvent]:
    """Events from an async iterator of byte chunks (e.g. `response.aiter_bytes()`).

    When the chunks end, the decoder is flushed so it can read the next connection.
    """
    dec = decoder or SSEDecoder()
    async for chunk in chunks:
        for ev in dec.feed(chunk):
            yield ev
    dec.flush()
