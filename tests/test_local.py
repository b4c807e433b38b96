"""Files and stdin: followed like `tail -F`, nothing lost, nothing unsafe printed.

The adapters are driven as the streamer drives them: `connect()` again
whenever a call returns without the source having finished.
"""

from __future__ import annotations

import asyncio
import os
import select
import unicodedata
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from pathlib import Path

import pytest

from logview.config import FileSource, StdinSource
from logview.errors import NotFoundError
from logview.model import Item, Level, LogEvent, SourceStatus, State
from logview.providers import local
from logview.providers.local import MAX_LINE, FileProvider, StdinProvider


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "POLL", 0.01)


def file_provider(path: Path, follow: bool = True) -> FileProvider:
    return FileProvider(FileSource(provider="file", name="app", path=str(path), follow=follow), None, None)


def stdin_provider(fd: int) -> StdinProvider:
    return StdinProvider(StdinSource(provider="stdin", name="stdin"), None, None, fd=fd)


async def items_of(provider: FileProvider | StdinProvider) -> AsyncIterator[Item]:
    """Every item, calling connect() again as the streamer does, until the source finishes."""
    while not provider.finished:
        async with aclosing(provider.connect()) as stream:  # type: ignore[type-var]
            async for item in stream:
                yield item


class Reader:
    """Collects a provider's items in the background; tests wait for what they expect."""

    def __init__(self, provider: FileProvider | StdinProvider) -> None:
        self.items: list[Item] = []
        self.task = asyncio.create_task(self._run(provider))

    async def _run(self, provider: FileProvider | StdinProvider) -> None:
        async for item in items_of(provider):
            self.items.append(item)

    @property
    def messages(self) -> list[str]:
        return [i.message for i in self.items if isinstance(i, LogEvent)]

    async def wait_for(self, check: Callable[[Reader], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not check(self):
                if self.task.done():
                    self.task.result()
                    assert check(self)
                await asyncio.sleep(0.01)

    async def wait_lines(self, n: int) -> None:
        await self.wait_for(lambda r: len(r.messages) >= n)

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def read_all(provider: FileProvider | StdinProvider) -> list[Item]:
    async with asyncio.timeout(10):
        return [item async for item in items_of(provider)]


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


# --- files ------------------------------------------------------------------------


async def test_a_file_without_follow_gives_every_line_then_ends(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"".join(f"line {i}\n".encode() for i in range(1000)) + b"last without newline")
    provider = file_provider(path, follow=False)
    items = await read_all(provider)
    assert [i.message for i in items if isinstance(i, LogEvent)] == [f"line {i}" for i in range(1000)] + [
        "last without newline"
    ]
    assert provider.finished


async def test_file_events_number_their_lines_and_detect_levels(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"2026-05-28T12:00:01Z ERROR boom\r\nplain\n")
    first, second = [i for i in await read_all(file_provider(path, follow=False)) if isinstance(i, LogEvent)]
    assert (first.seq, first.level, first.message, first.provider, first.source) == (
        1,
        Level.ERROR,
        "2026-05-28T12:00:01Z ERROR boom",
        "file",
        "app",
    )
    assert first.ts.isoformat() == "2026-05-28T12:00:01+00:00"
    assert (second.seq, second.message) == (2, "plain")


async def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        await read_all(file_provider(tmp_path / "nope.log"))


async def test_follow_picks_up_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"one\n")
    reader = Reader(file_provider(path))
    await reader.wait_lines(1)
    append(path, b"two\nthree\n")
    await reader.wait_lines(3)
    await reader.stop()
    assert reader.messages == ["one", "two", "three"]


async def test_a_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"first\nhalf a ")
    reader = Reader(file_provider(path))
    await reader.wait_lines(1)
    await asyncio.sleep(0.1)  # several polls
    assert reader.messages == ["first"]
    append(path, b"line\n")
    await reader.wait_lines(2)
    await reader.stop()
    assert reader.messages == ["first", "half a line"]


async def test_truncation_is_announced_and_the_file_reread_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"a long first line\nanother long line\n")
    reader = Reader(file_provider(path))
    await reader.wait_lines(2)
    path.write_bytes(b"fresh\n")  # truncates, then writes less than was there
    await reader.wait_lines(3)
    await reader.stop()
    statuses = [i for i in reader.items if isinstance(i, SourceStatus)]
    assert [(s.state, "truncated" in s.message) for s in statuses] == [(State.INFO, True)]
    assert reader.messages == ["a long first line", "another long line", "fresh"]


async def test_rotation_keeps_every_line_of_the_old_and_the_new_file(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"old 1\nold 2\n")
    reader = Reader(file_provider(path))
    await reader.wait_lines(2)
    append(path, b"old 3\nold 4 unterminated")  # written just before the rename, not yet read
    path.rename(tmp_path / "app.log.1")
    path.write_bytes(b"new 1\nnew 2\n")
    await reader.wait_lines(6)
    append(path, b"new 3\n")
    await reader.wait_lines(7)
    await reader.stop()
    assert reader.messages == ["old 1", "old 2", "old 3", "old 4 unterminated", "new 1", "new 2", "new 3"]
    statuses = [i for i in reader.items if isinstance(i, SourceStatus)]
    assert [(s.state, "rotated" in s.message) for s in statuses] == [(State.INFO, True)]


async def test_rotation_is_followed_within_one_connection(tmp_path: Path) -> None:
    """A rotation is not a reconnect: the streamer would show it as one and back off."""
    path = tmp_path / "app.log"
    path.write_bytes(b"old\n")
    provider = file_provider(path)
    got: list[str] = []
    async with asyncio.timeout(5), aclosing(provider.connect()) as stream:  # type: ignore[type-var]
        async for item in stream:
            if isinstance(item, LogEvent):
                got.append(item.message)
                if item.message == "old":
                    path.rename(tmp_path / "app.log.1")
                    path.write_bytes(b"new\n")
                if item.message == "new":
                    break
    assert got == ["old", "new"]


async def test_a_ten_megabyte_line_is_cut_into_bounded_pieces(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    big = "é" * (5 * 1024 * 1024)  # 10 MB of two-byte characters
    path.write_bytes(big.encode() + b"\nafter\n")
    messages = [i.message for i in await read_all(file_provider(path, follow=False)) if isinstance(i, LogEvent)]
    assert messages[-1] == "after"
    pieces = messages[:-1]
    assert len(pieces) >= 10
    assert all(len(p.encode()) <= MAX_LINE for p in pieces)
    assert "".join(pieces) == big  # no character was split by a cut


async def test_binary_garbage_becomes_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "bin.log"
    path.write_bytes(bytes(b for b in range(256) if b != 0x0A) + b"\n")
    (message,) = [i.message for i in await read_all(file_provider(path, follow=False)) if isinstance(i, LogEvent)]
    assert "\ufffd" in message
    assert [c for c in message if unicodedata.category(c) == "Cc" and c != "\t"] == []


async def test_escape_sequences_are_defused_but_colours_kept(tmp_path: Path) -> None:
    path = tmp_path / "esc.log"
    path.write_bytes(b"\x1b]0;pwned\x07 \x1b[2J \x1b[31mred\x1b[0m\n")
    (message,) = [i.message for i in await read_all(file_provider(path, follow=False)) if isinstance(i, LogEvent)]
    assert message == "\u241b]0;pwned\u2407 \u241b[2J \x1b[31mred\x1b[0m"


# --- stdin ------------------------------------------------------------------------


async def test_stdin_reads_a_pipe_until_it_closes() -> None:
    r, w = os.pipe()
    try:
        reader = Reader(stdin_provider(r))
        os.write(w, b"one\ntw")
        await reader.wait_lines(1)
        os.write(w, b"o\nno newline at the end")
        os.close(w)
        w = -1
        await reader.wait_for(lambda rd: rd.task.done())
        assert reader.messages == ["one", "two", "no newline at the end"]
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


async def test_a_cancelled_stdin_read_leaves_the_pipe_alone() -> None:
    """No thread stays blocked in read(): it would hold up the exit and eat the next line."""
    r, w = os.pipe()
    try:
        reader = Reader(stdin_provider(r))
        os.write(w, b"first\n")
        await reader.wait_lines(1)
        await reader.stop()
        os.write(w, b"later\n")
        assert select.select([r], [], [], 1.0)[0] == [r]
        assert os.read(r, 100) == b"later\n"
    finally:
        os.close(r)
        os.close(w)


async def test_stdin_reads_the_descriptor_named_by_stdin_fd(monkeypatch: pytest.MonkeyPatch) -> None:
    r, w = os.pipe()
    try:
        monkeypatch.setattr(local, "STDIN_FD", r)
        os.write(w, b"moved\n")
        os.close(w)
        w = -1
        provider = StdinProvider(StdinSource(provider="stdin", name="stdin"), None, None)
        messages = [i.message for i in await read_all(provider) if isinstance(i, LogEvent)]
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert messages == ["moved"]


async def test_stdin_redirected_from_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "in.log"
    path.write_bytes(b"a\nb\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        provider = stdin_provider(fd)
        messages = [i.message for i in await read_all(provider) if isinstance(i, LogEvent)]
    finally:
        os.close(fd)
    assert (messages, provider.finished) == (["a", "b"], True)
