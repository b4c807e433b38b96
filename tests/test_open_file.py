"""A big file in the app: its end on screen first, then every line in file order.

The real path: `FileProvider` (end first, then the rest) → `Streamer` → store →
layout → pane, headless.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logview.config import FileSource
from logview.model import Item, LogEvent
from logview.providers import local
from logview.providers.local import FileProvider, read_end_ahead
from logview.ui.app import LogviewApp

SIZE = (120, 40)
LINES = 30_000


def stamp(i: int) -> str:
    return f"2026-06-01T{i // 36000:02d}:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00Z"


@pytest.fixture
def big_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(FileProvider, "tail_first", True)
    monkeypatch.setattr(local, "TAIL_BYTES", 32 * 1024)
    monkeypatch.setattr(local, "_ahead", {})
    path = tmp_path / "big.log"
    out = []
    for i in range(LINES - 1):
        out.append(f"{stamp(i)} INFO request {i} handled\n")
        if i % 1000 == 3:
            out.append("Traceback (most recent call last):\n")  # no time of its own: stays with its line
    out.append(f"{stamp(LINES)} INFO the last line\n")
    path.write_text("".join(out), encoding="utf-8")
    return path


@pytest.mark.parametrize("ahead", [False, True], ids=["read-when-connected", "read-ahead"])
async def test_a_big_file_shows_its_end_first_then_every_line_in_file_order(big_log: Path, ahead: bool) -> None:
    spec = FileSource(provider="file", name="big", path=str(big_log), follow=False)
    if ahead:  # as `logview FILE` does before it loads the UI
        read_end_ahead(spec.path)
    app = LogviewApp([spec])
    lines = big_log.read_text(encoding="utf-8").splitlines()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.pane
        async with asyncio.timeout(20):
            while not len(app.store):
                await pilot.pause(0.01)
        first = app.store.event(app.store.first)
        assert first.message != lines[0]  # the end came first
        async with asyncio.timeout(60):
            while app.store.counts.get("big", 0) < len(lines):
                await pilot.pause(0.05)
            # under a flood the pane takes new rows at most every FLOOD_FRAME: wait for it, not a fixed time
            while app.pane.lines.end < app.store.end or app._rows_due is not None:
                await pilot.pause(0.05)
        await pilot.pause()
        store = app.store
        shown = [store.message[r - store.first] for r in pane.lines.rows if not store.is_marker(r)]
        assert shown == lines
        assert [store.event(r).seq for r in pane.lines.rows if not store.is_marker(r)] == list(range(1, len(lines) + 1))
        assert pane.follow
        assert pane.scroll_y == pane.max_scroll_y
        assert isinstance(app.store.event(pane.lines.rows[-1]), LogEvent)
        assert not local._ahead  # the provider took what was read ahead


# --- the end read ahead ---------------------------------------------------------------


async def items_of(path: Path) -> list[Item]:
    provider = FileProvider(FileSource(provider="file", name="big", path=str(path), follow=False), None, None)
    async with asyncio.timeout(30):
        return [item async for item in provider.connect()]


def events(items: list[Item]) -> list[tuple[Any, str]]:
    return [(i.seq, i.message) for i in items if isinstance(i, LogEvent)]


async def test_the_end_read_ahead_is_the_end_read_when_connected(
    big_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "TAIL_PAUSE", 0)
    read_end_ahead(str(big_log))
    assert str(big_log) in local._ahead
    ahead = await items_of(big_log)
    assert not local._ahead
    assert events(ahead) == events(await items_of(big_log))


async def test_an_end_read_ahead_of_a_file_since_replaced_is_not_used(
    big_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local, "TAIL_PAUSE", 0)
    read_end_ahead(str(big_log))
    done, _ = local._ahead[str(big_log)]
    assert done.wait(10)
    other = big_log.with_name("rotated-in.log")
    other.write_text("".join(f"{stamp(i)} INFO another file {i}\n" for i in range(LINES)), encoding="utf-8")
    os.replace(other, big_log)  # a new file at the path: what was read ahead is of the old one
    got = events(await items_of(big_log))
    assert len(got) == LINES
    assert all("another file" in message for _, message in got)
    assert sorted(seq for seq, _ in got) == list(range(1, LINES + 1))


@given(st.binary(max_size=2000))
def test_newlines_are_counted_as_bytes_count_counts_them(data: bytes) -> None:
    assert local._newlines(data) == data.count(b"\n")
