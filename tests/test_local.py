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
from hypothesis import given
from hypothesis import strategies as st

from logview.config import FileSource, StdinSource
from logview.errors import NotFoundError
from logview.model import Item, Level, LogEvent, SourceStatus, State
from logview.providers import local
from logview.providers.local import MAX_LINE, FileProvider, LineSplitter, StdinProvider


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


# --- a big file: its end first, then the rest ----------------------------------------


def stamp(i: int) -> str:
    return f"2026-06-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"


def mixed_log(n: int) -> tuple[bytes, list[str]]:
    """A log with what a time-ordered view must keep in file order: timeless lines
    (tracebacks, a banner), multi-byte text, CRLF, a line longer than a chunk."""
    lines = ["banner without a time", "  second banner line"]
    for i in range(n):
        if i % 50 == 7:
            lines += [
                f"{stamp(i)} ERROR boom {i}",
                "Traceback (most recent call last):",
                f'  File "x.py", line {i}',
                "ValueError: é",
            ]
        elif i % 333 == 5:
            lines.append(f"{stamp(i)} INFO big {'ß' * 3000} end {i}")
        else:
            lines.append(f"{stamp(i)} INFO worker-{i % 4} request {i} 日本語 handled")
    data = "".join(line + ("\r\n" if k % 9 == 4 else "\n") for k, line in enumerate(lines)).encode()
    return data, lines


def shown_order(items: list[Item]) -> list[LogEvent]:
    """Events as a time-ordered view shows them: by timestamp, then by arrival."""
    events = [i for i in items if isinstance(i, LogEvent)]
    return sorted(events, key=lambda e: e.ts)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "CHUNK", 4096)
    monkeypatch.setattr(local, "TAIL_BYTES", 16 * 1024)
    monkeypatch.setattr(local, "TAIL_LINES", 60)
    monkeypatch.setattr(local, "TAIL_PAUSE", 0)


async def read_tail_first(tmp_path: Path, n: int, max_lines: int | None = None) -> tuple[list[str], list[Item]]:
    """A mixed log of n lines read end first (not followed): its lines and every item."""
    data, lines = mixed_log(n)
    path = tmp_path / "big.log"
    path.write_bytes(data)
    provider = file_provider(path, follow=False)
    provider.tail_first = True
    if max_lines is not None:
        provider.max_lines = max_lines
    return lines, await read_all(provider)


@pytest.mark.usefixtures("small_chunks")
async def test_tail_first_shows_the_end_first_and_every_line_once_in_file_order(tmp_path: Path) -> None:
    lines, items = await read_tail_first(tmp_path, 3000)
    events = [i for i in items if isinstance(i, LogEvent)]
    assert events[0].seq > len(lines) - 60  # the end came first ...
    assert events[-1].seq < events[0].seq  # ... and the start after it
    assert len(events) == len(lines)
    shown = shown_order(items)
    assert [e.message for e in shown] == lines
    assert [e.seq for e in shown] == list(range(1, len(lines) + 1))
    states = [i.state for i in items if isinstance(i, SourceStatus)]
    assert states == [State.BACKFILLING, State.LIVE]
    # the same events as reading front to back
    plain = [i for i in await read_all(file_provider(tmp_path / "big.log", follow=False)) if isinstance(i, LogEvent)]
    assert [(e.seq, e.message, e.ts, e.level) for e in plain] == [(e.seq, e.message, e.ts, e.level) for e in shown]


@pytest.mark.usefixtures("small_chunks")
async def test_tail_first_then_follows_what_is_appended(tmp_path: Path) -> None:
    data, lines = mixed_log(1000)
    path = tmp_path / "big.log"
    path.write_bytes(data + b"2026-06-02T00:00:00Z INFO half")  # a partial last line, completed later
    provider = file_provider(path)
    provider.tail_first = True
    reader = Reader(provider)
    await reader.wait_for(lambda r: any(isinstance(i, SourceStatus) and i.state is State.LIVE for i in r.items))
    append(path, b" a line\n2026-06-02T00:00:01Z INFO after\n")
    await reader.wait_lines(len(lines) + 2)
    await asyncio.sleep(0.05)
    await reader.stop()
    shown = shown_order(reader.items)
    assert [e.message for e in shown] == [
        *lines,
        "2026-06-02T00:00:00Z INFO half a line",
        "2026-06-02T00:00:01Z INFO after",
    ]
    assert [e.seq for e in shown] == list(range(1, len(lines) + 3))


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize(
    "line",
    [
        lambda i: f"no time at all {i}",
        lambda i: f"2026-06-01T00:00:00Z INFO all in the same second {i}",
        lambda i: f"{stamp(10_000 - i)} INFO time running backwards {i}",
    ],
    ids=["timeless", "one-second", "backwards"],
)
async def test_tail_first_reads_in_order_when_the_end_gives_no_safe_start(
    tmp_path: Path, line: Callable[[int], str]
) -> None:
    lines = [line(i) for i in range(2000)]
    path = tmp_path / "plain.log"
    path.write_bytes("".join(x + "\n" for x in lines).encode())
    provider = file_provider(path, follow=False)
    provider.tail_first = True
    items = await read_all(provider)
    assert [i.message for i in items if isinstance(i, LogEvent)] == lines
    assert not [i for i in items if isinstance(i, SourceStatus)]


async def test_a_line_without_a_time_takes_the_time_of_the_line_before(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(
        b"starting up\n2026-05-28T12:00:01Z ERROR boom\nTraceback (most recent call last):\n  x\n"
        b"2026-05-28T12:00:02+02:00 INFO later\nmore\n"
    )
    events = [i for i in await read_all(file_provider(path, follow=False)) if isinstance(i, LogEvent)]
    got = [(e.message, e.ts.isoformat()) for e in events]
    assert got == [
        ("starting up", "2026-05-28T12:00:01+00:00"),  # before any time: the first one after it
        ("2026-05-28T12:00:01Z ERROR boom", "2026-05-28T12:00:01+00:00"),
        ("Traceback (most recent call last):", "2026-05-28T12:00:01+00:00"),
        ("  x", "2026-05-28T12:00:01+00:00"),
        ("2026-05-28T12:00:02+02:00 INFO later", "2026-05-28T10:00:02+00:00"),
        ("more", "2026-05-28T10:00:02+00:00"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        "2026-06-01T10:00:00Z x",
        "2026-06-01T10:00:00.123456789Z x",
        "2026-06-01 10:00:00,123 INFO python logging",
        "2026-06-01 10:00:00 +05:30 a zone after a space",
        "2026-06-01 10:00:00 -0800",
        "2026-06-01T10:00:00+0530\tx",
        "2026-06-01T10:00:00-08:00",
        "2026-06-01T10:00:00 UTC x",
        "2026-06-01T10:00:00 Z x",
        "2026-06-01T10:00:00.5 2 things",
        "2026-06-01T10:00:00Zfoo",
        "2026-06-01T10:00:00.x",
        "2026-06-01T23:59:60.5Z leap",
        "2026-13-01T10:00:00Z bad month",
        "2026-06-01T10:00 no seconds",
        "2026-06-01 date only",
        "[2026-06-01T10:00:00Z] bracketed",
        "2026/06/01 10:00:00 go",
        "2026-06-01t10:00:00z lower",
        "12345 not a time",
        "",
    ],
)
def test_the_fast_timestamp_path_agrees_with_the_general_parser(line: str) -> None:
    from logview.text import split_leading_ts

    stamps = local._Stamps()
    assert stamps(line) == split_leading_ts(line)[0]
    assert stamps(line) == split_leading_ts(line)[0]  # again, from the cache


def test_bulk_decoding_equals_decoding_line_by_line() -> None:
    data = "é日本\n".encode() * 3 + b"\xff\xfe bad \xe6\x97\n\xe6\n\n" + b"ok\r\n" + b"partial \xe6\x97"
    splitter = LineSplitter()
    got = splitter.feed(data[:7]) + splitter.feed(data[7:]) + splitter.flush()
    assert got == [p.decode("utf-8", errors="replace") for p in data.split(b"\n")]


def test_a_long_line_inside_one_chunk_is_cut_too() -> None:
    splitter = LineSplitter(max_line=1000)
    line = "é" * 1500  # 3000 bytes
    pieces = splitter.feed(f"a\n{line}\nb\n".encode())
    assert pieces[0] == "a" and pieces[-1] == "b"
    assert "".join(pieces[1:-1]) == line
    assert all(len(p.encode()) <= 1000 for p in pieces)


_TS_WORDS = ["2026", "06", "01", "10", "59", "60", "13", "123", "1234567890", "05", "0530", ":30", "UTC", "\x1b[2m"]
_TS_PIECES = st.lists(
    st.sampled_from(
        [*_TS_WORDS, "-", "T", "t", ":", ".", ",", "Z", "z", "+", "/", "[", "]", "x", "é", " ", "\t", "\r"]
    ),
    max_size=16,
)


@given(pieces=_TS_PIECES)
def test_the_fast_timestamp_path_agrees_on_any_text(pieces: list[str]) -> None:
    from logview.text import split_leading_ts

    for line in ("".join(pieces), "2026-06-01T10:00:00" + "".join(pieces), "2026-06-01 10:00:00" + "".join(pieces)):
        assert local._Stamps()(line) == split_leading_ts(line)[0], line


@pytest.mark.usefixtures("small_chunks")
async def test_tail_first_leaves_out_what_the_consumer_would_drop_and_says_so(tmp_path: Path) -> None:
    lines, items = await read_tail_first(tmp_path, 3000, max_lines=1000)  # keeps 980: eviction's chunk is 2 %
    shown = shown_order(items)
    assert [e.message for e in shown] == lines[-980:]
    assert [e.seq for e in shown] == list(range(len(lines) - 979, len(lines) + 1))
    (info,) = [i for i in items if isinstance(i, SourceStatus) and i.state is State.INFO]
    assert f"the first {len(lines) - 980:,} lines" in info.message
    assert info.ts == shown[0].ts  # the notice sits where the missing lines would be
    assert items.index(info) < min(items.index(e) for e in shown if e.seq < len(lines) - 100)
