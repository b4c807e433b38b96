"""Local sources: a file (followed like `tail -F`) and standard input."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from logview.errors import FatalSourceError, NotFoundError
from logview.model import Item, LogEvent, State, utcnow
from logview.providers.base import Provider, flatten
from logview.text import detect_level, sanitize, split_leading_ts

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 20
TAIL_BYTES = 256 << 10
TAIL_LINES = 900
"""How much of a file's end is shown first (see `FileProvider.tail_first`): at most
this many lines of its last `TAIL_BYTES`; few enough for the streamer's first batch."""
TAIL_PAUSE = 0.3
"""Seconds the rest waits after the tail, so that the consumer gets the tail alone."""
MAX_LINE = 1 << 20
"""A line longer than this is cut into pieces rather than held in memory whole."""
POLL = 0.25
STDIN_FD = 0
"""Where StdinProvider reads; the TUI moves logs off fd 0 to free the terminal."""


class LineSplitter:
    """Bytes in, complete decoded lines out; a partial last line waits for more.

    A chunk is decoded in one call: a cut at a newline never splits a UTF-8
    character, and bad bytes become U+FFFD exactly as line by line.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = b""
        self._max = max_line

    def feed(self, data: bytes) -> list[str]:
        buf = self._buf + data if self._buf else data
        end = buf.rfind(b"\n")
        if end < 0:
            done, rest = b"", buf
        else:
            done, rest = buf[:end], buf[end + 1 :]
        lines = done.decode("utf-8", errors="replace").split("\n") if end >= 0 else []
        if len(done) > self._max and max(map(len, lines)) * 4 > self._max:  # a line may be too long: cut it
            lines = [piece for line in lines for piece in self._cut_text(line)]
        pieces: list[str] = []
        while len(rest) > self._max:
            cut = _char_boundary(rest, self._max)
            pieces.append(rest[:cut].decode("utf-8", errors="replace"))
            rest = rest[cut:]
        self._buf = rest
        return lines + pieces if pieces else lines

    def _cut_text(self, line: str) -> list[str]:
        if len(line) * 4 <= self._max:
            return [line]
        raw = line.encode("utf-8", errors="surrogatepass")
        if len(raw) <= self._max:
            return [line]
        out = []
        while len(raw) > self._max:
            cut = _char_boundary(raw, self._max)
            out.append(raw[:cut].decode("utf-8", errors="surrogatepass"))
            raw = raw[cut:]
        out.append(raw.decode("utf-8", errors="surrogatepass"))
        return out

    def flush(self) -> list[str]:
        rest, self._buf = self._buf, b""
        return [rest.decode("utf-8", errors="replace")] if rest else []


def _char_boundary(data: bytes, at: int) -> int:
    """`at`, moved back so that a cut there does not split a UTF-8 character."""
    for cut in range(at, max(at - 3, 1) - 1, -1):
        if data[cut] & 0xC0 != 0x80:  # not a continuation byte: a character starts here
            return cut
    return at


# `2026-06-01T10:00:00.123456Z`, `2026-06-01 10:00:00,123`, `...+02:00`: the forms most
# files use, read without the general parser. Whatever this does not match exactly
# (brackets, colours, a zone after a space, a leap second) goes to `split_leading_ts`.
_FAST_TS_RE = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?(?=\t|$| (?![+\-\d]))", re.ASCII
)


class _Stamps:
    """Leading timestamps of lines, with the second (and zone) parsed once per distinct value."""

    __slots__ = ("_seconds",)

    def __init__(self) -> None:
        self._seconds: dict[str, datetime | None] = {}

    def __call__(self, line: str) -> datetime | None:
        c = line[:1]
        if not (c.isdigit() or c == "["):
            return None
        m = _FAST_TS_RE.match(line)
        if m is None or line[17:19] == "60":  # a leap second counts as the next one: the general parser
            return split_leading_ts(line)[0]
        second, frac, zone = m.groups()
        key = second + zone if zone else second
        try:
            base = self._seconds[key]
        except KeyError:
            if len(self._seconds) >= 4096:
                self._seconds.clear()
            base = self._seconds[key] = split_leading_ts(key)[0]
        if base is None or not frac:
            return base
        return base.replace(microsecond=int((frac + "000000")[:6]))


class _LocalProvider(Provider):
    stall_timeout = None

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._line_no = 0
        self._last_ts: datetime | None = None
        """The time of the last line that had one: lines without a time of their own
        (a traceback's) take it, so they stay with their line in a time-ordered view."""
        self._stamp = _Stamps()

    def _events(self, lines: list[str], *, hold: list[LogEvent] | None = None) -> list[Item]:
        """Events for lines in file order, numbered on from `_line_no`.

        A line without a timestamp takes the last one seen. Lines before the
        first timestamp take the first one in `lines`, or with `hold` wait there
        for one (when none comes they keep the time they were read).
        """
        now = utcnow()
        name, kind, stamp = self.name, self.kind, self._stamp
        last = self._last_ts
        n = self._line_no
        out: list[Item] = []
        orphans: list[LogEvent] = []
        for raw in lines:
            if raw[-1:] == "\r":
                raw = raw[:-1]
            n += 1
            ts = stamp(raw)
            text = sanitize(raw)
            ev = LogEvent(name, kind, text, ts or last or now, detect_level(text), None, None, n, {}, now)
            if ts is not None:
                if last is None:
                    if hold:
                        orphans[:0] = hold
                        hold.clear()
                    for o in orphans:
                        o.ts = ts
                    out.extend(orphans)
                    orphans.clear()
                last = ts
            elif last is None:
                orphans.append(ev)
                continue
            out.append(ev)
        self._line_no = n
        self._last_ts = last
        if orphans:
            if hold is not None:
                hold.extend(orphans)
            else:
                out.extend(orphans)
        return out


class FileProvider(_LocalProvider):
    """Reads a file from the start, then follows it.

    Survives truncation (reads again from the top, says so) and rotation
    (finishes the old file, then opens the new one at the same path).
    """

    kind = "file"
    tail_first = False
    """Show a big file's end first, then the rest before it, then follow.

    For a consumer that orders lines by time (the TUI): a file's last screen
    is there at once rather than after the whole file was read. Only when the
    end carries timestamps; lines arrive out of file order, so a consumer that
    prints them as they come (`logview tail`) leaves this off."""
    max_lines: int | None = None
    """How many lines the consumer keeps (`tail_first` only). A longer file is
    loaded from its newest `max_lines` less 2 % (room to follow before the
    consumer drops rows) and says how many lines it left out, instead of
    reading lines only for them to be dropped: they would be dropped in the
    order they came, and the end of the file came first."""

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._pos = 0
        self._ino: int | None = None

    def connect(self) -> AsyncIterator[Item]:
        return flatten(self.connect_batches())

    async def connect_batches(self) -> AsyncIterator[list[Item]]:
        path = os.path.expanduser(self.spec.path)
        f: BinaryIO
        try:
            f = open(path, "rb")  # noqa: SIM115 - held across awaits
        except FileNotFoundError:
            raise NotFoundError(f"no such file: {path}") from None
        except OSError as e:
            raise FatalSourceError(f"cannot open {path}: {e.strerror}") from None
        self.connected()
        try:
            if self.tail_first and self._ino is None and self._pos == 0:
                async for items in self._tail_then_rest(f, path):
                    yield items
            while True:
                async for items in self._follow(f, path):
                    yield items
                if self.finished:
                    return
                # rotated: the new file at the path is read in this same connection,
                # so a rotation is neither a reconnect nor a backoff delay
                f.close()
                f = await self._reopen(path)
        finally:
            f.close()

    async def _reopen(self, path: str) -> BinaryIO:
        while True:
            try:
                return open(path, "rb")
            except FileNotFoundError:
                await asyncio.sleep(POLL)  # moved away again before we got to it
            except OSError as e:
                raise FatalSourceError(f"cannot open {path}: {e.strerror}") from None

    async def _tail_then_rest(self, f: BinaryIO, path: str) -> AsyncIterator[list[Item]]:
        """The file's last lines, then every line before them; leaves `_follow` to go on after the tail.

        The tail starts at a line whose time is later than that of every line
        before it in the bytes read and no later than any line after it, so a
        view ordered by time shows tail and rest in file order (in a file whose
        times never go backwards across that point). When the end has no usable
        timestamps nothing is read here and the file is read front to back.
        """
        end_read = await _EndRead.take(path, f)
        if end_read is None:
            return  # small, not a file, or no usable timestamps at the end: read in order
        size, data, start, before = end_read.size, end_read.data, end_read.start, end_read.before
        cut = start - (size - len(data))
        end = data.rfind(b"\n") + 1
        tail = data[cut:end].decode("utf-8", errors="replace").split("\n")[:-1]
        skip = 0
        if self.max_lines is not None:
            skip = max(0, before + len(tail) - (self.max_lines - self.max_lines // 50))
        self._line_no = before
        # the status and the tail in one hand-over: the consumer shows the end at once
        yield [
            self.status(State.BACKFILLING, f"showing the end of {path} first; reading the rest"),
            *self._events(tail),
        ]
        tail_line_no, tail_ts = self._line_no, self._last_ts
        # a moment for the consumer to take the tail before the rest keeps this loop busy
        await asyncio.sleep(TAIL_PAUSE)
        # the rest, from the top (or the first line kept) to where the tail starts
        pos = 0
        notice = ""
        if skip:
            skip = min(skip, before)
            pos = _line_offset(f, skip)
            notice = f"the first {skip:,} lines of {path} are not loaded: only the newest {self.max_lines:,} are kept"
        self._line_no, self._last_ts = skip, None
        splitter = LineSplitter()
        hold: list[LogEvent] = []
        f.seek(pos)
        while pos < start:
            chunk = f.read(min(CHUNK, start - pos))
            if not chunk:
                break  # truncated meanwhile: _follow notices and starts over
            pos += len(chunk)
            items = self._events(splitter.feed(chunk), hold=hold)
            if notice and items:  # said where the missing lines would be: at the first line kept
                items.insert(0, self.status(State.INFO, notice, ts=items[0].ts))
                notice = ""
            if items:
                yield items
            await asyncio.sleep(0)
        yield [*self._events(splitter.flush(), hold=hold), *hold, self.status(State.LIVE, "live")]
        self._line_no, self._last_ts = tail_line_no, tail_ts
        # `_follow` goes on after the tail's last complete line, the partial one is read again
        self._pos = size - len(data) + end
        self._ino = end_read.ino

    async def _follow(self, f: BinaryIO, path: str) -> AsyncIterator[list[Item]]:
        """Read one file to its end, then follow it until it ends (no follow) or is rotated."""
        splitter = LineSplitter()
        st = os.fstat(f.fileno())
        if self._ino is not None and st.st_ino != self._ino:
            self._pos = 0  # a new file at the path since the last connection
        self._ino = st.st_ino
        f.seek(self._pos)
        while True:
            data = f.read(CHUNK)
            if data:
                self._pos += len(data)
                lines = splitter.feed(data)
                if lines:
                    yield self._events(lines)
                await asyncio.sleep(0)
                continue
            if not self.spec.follow:
                last = self._events(splitter.flush())
                if last:
                    yield last
                self.finished = True
                return
            await asyncio.sleep(POLL)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                continue  # rotated away and not yet recreated
            if now.st_ino != self._ino:
                rest = f.read()
                yield [
                    *self._events(splitter.feed(rest) + splitter.flush()),
                    self.status(State.INFO, f"{path} was rotated: following the new file"),
                ]
                self._pos = 0
                self._ino = None
                return
            if now.st_size < self._pos:
                yield [self.status(State.INFO, f"{path} was truncated: reading from the start")]
                splitter = LineSplitter()
                self._pos = 0
                f.seek(0)


class _EndRead:
    """A big file's end, read for `FileProvider._tail_then_rest`: its last `TAIL_BYTES`
    (`data`, ending at `size`), where the tail shown first starts in the file
    (`start`), and how many lines come before it (`before`).

    `read_end_ahead` makes one in a thread before the provider asks for it: a
    TUI spends half a second loading itself before its first source connects,
    time in which the end is read and the lines before it are counted, the
    slowest part of showing a big file's end (~50 ms per 100 MB).
    """

    __slots__ = ("before", "data", "dev", "ino", "size", "start")

    def __init__(self, st: os.stat_result, data: bytes, start: int, before: int) -> None:
        self.dev, self.ino, self.size = st.st_dev, st.st_ino, st.st_size
        self.data = data
        self.start = start
        self.before = before

    @classmethod
    def read(cls, f: BinaryIO) -> _EndRead | None:
        """Read the end of the open file `f`; None when it is not worth it (small,
        not a regular file) or the end gives no safe start (see `_tail_start`)."""
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size <= 2 * TAIL_BYTES:
            return None  # small (or not a file): read in order, that is quick anyway
        f.seek(st.st_size - TAIL_BYTES)
        data = f.read(TAIL_BYTES)
        cut = _tail_start(data, _Stamps())
        if cut is None:
            return None
        start = st.st_size - len(data) + cut
        return cls(st, data, start, _count_lines(f, start))

    @classmethod
    async def take(cls, path: str, f: BinaryIO) -> _EndRead | None:
        """The end of `f` (open at `path`): the one read ahead when it is of this
        very file, else read now."""
        ahead = _ahead.pop(path, None)
        if ahead is not None:
            done, result = ahead
            if not done.is_set():
                await asyncio.to_thread(done.wait)
            got = result[0] if result else None
            st = os.fstat(f.fileno())
            if got is not None and (got.dev, got.ino) == (st.st_dev, st.st_ino) and st.st_size >= got.size:
                return got  # the same file, only grown since: the lines before `start` are as counted
        return cls.read(f)


_ahead: dict[str, tuple[threading.Event, list[_EndRead | None]]] = {}
"""Reads started by `read_end_ahead`, by path: done when the event is set."""


def read_end_ahead(path: str) -> None:
    """Start reading the end of the big file at `path` in a thread, for a
    `tail_first` provider that opens it later (see `_EndRead`). Anything that
    goes wrong (no such file, ...) is left for the provider to find and report."""
    path = os.path.expanduser(path)
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) or st.st_size <= 2 * TAIL_BYTES or path in _ahead:
        return  # nothing to gain (and a FIFO would block the thread in open())
    done = threading.Event()
    result: list[_EndRead | None] = []

    def run() -> None:
        try:
            with open(path, "rb") as f:
                result.append(_EndRead.read(f))
        except Exception:  # the provider then reads the end itself, and reports what fails
            pass
        finally:
            done.set()

    _ahead[path] = (done, result)
    threading.Thread(target=run, name="read-end-ahead", daemon=True).start()


def _tail_start(data: bytes, stamp: _Stamps) -> int | None:
    """Where in `data` (a file's last bytes) the shown-first tail starts, or None.

    A line start whose timestamp is later than the last timestamp before it
    and not later than any after it; the lines before it inside `data` are
    the witnesses that the rest of the file is earlier. None when the end
    has no such line, e.g. no timestamps, or all lines alike in time.
    """
    first = data.find(b"\n") + 1
    end = data.rfind(b"\n") + 1
    if first <= 0 or end <= first:
        return None
    lines = data[first:end].split(b"\n")[:-1]
    if len(lines) > TAIL_LINES + 100:  # the tail's candidates, and enough lines before them as witnesses
        first += sum(map(len, lines[: -(TAIL_LINES + 100)])) + len(lines) - (TAIL_LINES + 100)
        lines = lines[-(TAIL_LINES + 100) :]
    stamps = [stamp(line[:64].rstrip(b"\r").decode("ascii", errors="replace")) for line in lines]
    later_min: list[float] = [0.0] * len(lines)
    low = float("inf")
    for i in range(len(lines) - 1, -1, -1):
        ts = stamps[i]
        if ts is not None:
            low = min(low, ts.timestamp())
        later_min[i] = low
    offset = first
    seen: float | None = None
    for i, line in enumerate(lines):
        ts = stamps[i]
        if ts is not None:
            t = ts.timestamp()
            if seen is not None and t > seen and t <= later_min[i] and len(lines) - i <= TAIL_LINES:
                return offset
            seen = t if seen is None else max(seen, t)
        offset += len(line) + 1
    return None


def _line_offset(f: BinaryIO, n: int) -> int:
    """Where line `n` (counted from 0) of `f` starts; `f` has more than `n` lines."""
    f.seek(0)
    pos = 0
    while True:
        data = f.read(4 * CHUNK)
        if not data:
            return pos
        here = _newlines(data)
        if here < n:
            n -= here
            pos += len(data)
            continue
        at = -1
        for _ in range(n):
            at = data.find(b"\n", at + 1)
        return pos + at + 1


def _count_lines(f: BinaryIO, end: int) -> int:
    """Newlines in the first `end` bytes of `f`."""
    f.seek(0)
    n = 0
    left = end
    while left > 0:
        data = f.read(min(left, 4 * CHUNK))
        if not data:
            break
        n += _newlines(data)
        left -= len(data)
    return n


def _newlines(data: bytes) -> int:
    """`data.count(b"\n")`, 2-3 times as fast: `count` compares every byte in a
    plain loop, `replace` finds the newlines with memchr (CPython 3.11)."""
    return len(data) - len(data.replace(b"\n", b""))


class StdinProvider(_LocalProvider):
    """Standard input (or another inherited descriptor, `spec` extra `fd`)."""

    kind = "stdin"

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None, fd: int | None = None) -> None:
        super().__init__(spec, client, secret)
        self.fd = STDIN_FD if fd is None else fd

    def connect(self) -> AsyncIterator[Item]:
        return flatten(self.connect_batches())

    async def connect_batches(self) -> AsyncIterator[list[Item]]:
        splitter = LineSplitter()
        self.connected()
        while True:
            try:
                data = await self._read()
            except OSError as e:
                raise FatalSourceError(f"cannot read standard input: {e.strerror}") from None
            if not data:
                last = self._events(splitter.flush())
                if last:
                    yield last
                self.finished = True
                return
            items = self._events(splitter.feed(data))
            if items:
                yield items

    async def _read(self) -> bytes:
        """One chunk, waiting in the event loop rather than in a thread.

        A thread blocked in read() on an idle pipe or terminal cannot be
        cancelled: it would hold up the exit until the next line arrives,
        and then swallow that line. Regular files (`logview - < file`) cannot
        be waited on this way, and never block.
        """
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        try:
            loop.add_reader(self.fd, _resolve, ready)
        except (OSError, ValueError, NotImplementedError):
            return os.read(self.fd, CHUNK)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)
        return os.read(self.fd, CHUNK)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
