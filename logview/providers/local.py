"""Local sources: a file (followed like `tail -F`) and standard input."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx

from logview.errors import FatalSourceError, NotFoundError
from logview.model import Item, State
from logview.providers.base import Provider
from logview.text import detect_level, sanitize, split_leading_ts

CHUNK = 1 << 20
MAX_LINE = 1 << 20
"""A line longer than this is cut into pieces rather than held in memory whole."""
POLL = 0.25


class LineSplitter:
    """Bytes in, complete decoded lines out; a partial last line waits for more."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = b""
        self._max = max_line

    def feed(self, data: bytes) -> list[str]:
        buf = self._buf + data if self._buf else data
        parts = buf.split(b"\n")
        self._buf = parts.pop()
        if len(self._buf) > self._max:
            parts.append(self._buf)
            self._buf = b""
        return [p.decode("utf-8", errors="replace") for p in parts]

    def flush(self) -> list[str]:
        rest, self._buf = self._buf, b""
        return [rest.decode("utf-8", errors="replace")] if rest else []


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
        try:
            f = open(path, "rb")  # noqa: SIM115 - held across awaits
        except FileNotFoundError:
            raise NotFoundError(f"no such file: {path}") from None
        except OSError as e:
            raise FatalSourceError(f"cannot open {path}: {e.strerror}") from None
        splitter = LineSplitter()
        try:
            st = os.fstat(f.fileno())
            if self._ino is not None and st.st_ino != self._ino:
                self._pos = 0  # a new file at the path since the last connection
            self._ino = st.st_ino
            f.seek(self._pos)
            self.connected()
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
                    return  # the streamer reconnects at once to the new file
                if now.st_size < self._pos:
                    yield self.status(State.INFO, f"{path} was truncated: reading from the start")
                    splitter = LineSplitter()
                    self._pos = 0
                    f.seek(0)
        finally:
            f.close()


class StdinProvider(_LocalProvider):
    """Standard input (or another inherited descriptor, `spec` extra `fd`)."""

    kind = "stdin"

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None, fd: int = 0) -> None:
        super().__init__(spec, client, secret)
        self.fd = fd

    async def connect(self) -> AsyncIterator[Item]:
        splitter = LineSplitter()
        self.connected()
        while True:
            try:
                data = await asyncio.to_thread(os.read, self.fd, CHUNK)
            except OSError as e:
                raise FatalSourceError(f"cannot read standard input: {e.strerror}") from None
            if not data:
                for item in self._events(splitter.flush()):
                    yield item
                self.finished = True
                return
            for item in self._events(splitter.feed(data)):
                yield item
