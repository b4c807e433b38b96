"""Local sources: a file (followed like `tail -F`) and standard input."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

import httpx

from logview.errors import FatalSourceError, NotFoundError
from logview.model import Item, State
from logview.providers.base import Provider
from logview.text import detect_level, sanitize, split_leading_ts

CHUNK = 1 << 20
MAX_LINE = 1 << 20
"""A line longer than this is cut into pieces rather than held in memory whole."""
POLL = 0.25
STDIN_FD = 0
"""Where StdinProvider reads; the TUI moves logs off fd 0 to free the terminal."""


class LineSplitter:
    """Bytes in, complete decoded lines out; a partial last line waits for more."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = b""
        self._max = max_line

    def feed(self, data: bytes) -> list[str]:
        buf = self._buf + data if self._buf else data
        parts = buf.split(b"\n")
        rest = parts.pop()
        while len(rest) > self._max:
            cut = _char_boundary(rest, self._max)
            parts.append(rest[:cut])
            rest = rest[cut:]
        self._buf = rest
        return [p.decode("utf-8", errors="replace") for p in parts]

    def flush(self) -> list[str]:
        rest, self._buf = self._buf, b""
        return [rest.decode("utf-8", errors="replace")] if rest else []


def _char_boundary(data: bytes, at: int) -> int:
    """`at`, moved back so that a cut there does not split a UTF-8 character."""
    for cut in range(at, max(at - 3, 1) - 1, -1):
        if data[cut] & 0xC0 != 0x80:  # not a continuation byte: a character starts here
            return cut
    return at


class _LocalProvider(Provider):
    stall_timeout = None

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._line_no = 0

    def _events(self, lines: list[str]) -> list[Item]:
        out: list[Item] = []
        for raw in lines:
            if raw.endswith("\r"):
                raw = raw[:-1]
            self._line_no += 1
            ts, _ = split_leading_ts(raw) if raw[:1].isdigit() or raw[:1] == "[" else (None, raw)
            text = sanitize(raw)
            out.append(self.event(text, ts, level=detect_level(text), seq=self._line_no))
        return out


class FileProvider(_LocalProvider):
    """Reads a file from the start, then follows it.

    Survives truncation (reads again from the top, says so) and rotation
    (finishes the old file, then opens the new one at the same path).
    """

    kind = "file"

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._pos = 0
        self._ino: int | None = None

    async def connect(self) -> AsyncIterator[Item]:
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
            while True:
                async for item in self._follow(f, path):
                    yield item
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

    async def _follow(self, f: BinaryIO, path: str) -> AsyncIterator[Item]:
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
                    for item in self._events(lines):
                        yield item
                await asyncio.sleep(0)
                continue
            if not self.spec.follow:
                for item in self._events(splitter.flush()):
                    yield item
                self.finished = True
                return
            await asyncio.sleep(POLL)
            try:
                now = os.stat(path)
            except FileNotFoundError:
                continue  # rotated away and not yet recreated
            if now.st_ino != self._ino:
                rest = f.read()
                for item in self._events(splitter.feed(rest) + splitter.flush()):
                    yield item
                yield self.status(State.INFO, f"{path} was rotated: following the new file")
                self._pos = 0
                self._ino = None
                return
            if now.st_size < self._pos:
                yield self.status(State.INFO, f"{path} was truncated: reading from the start")
                splitter = LineSplitter()
                self._pos = 0
                f.seek(0)


class StdinProvider(_LocalProvider):
    """Standard input (or another inherited descriptor, `spec` extra `fd`)."""

    kind = "stdin"

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None, fd: int | None = None) -> None:
        super().__init__(spec, client, secret)
        self.fd = STDIN_FD if fd is None else fd

    async def connect(self) -> AsyncIterator[Item]:
        splitter = LineSplitter()
        self.connected()
        while True:
            try:
                data = await self._read()
            except OSError as e:
                raise FatalSourceError(f"cannot read standard input: {e.strerror}") from None
            if not data:
                for item in self._events(splitter.flush()):
                    yield item
                self.finished = True
                return
            for item in self._events(splitter.feed(data)):
                yield item

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
