"""A big file in the app: its end on screen first, then every line in file order.

The real path: `FileProvider` (end first, then the rest) → `Streamer` → store →
layout → pane, headless.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from logview.config import FileSource
from logview.model import LogEvent
from logview.providers import local
from logview.providers.local import FileProvider
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
    path = tmp_path / "big.log"
    out = []
    for i in range(LINES - 1):
        out.append(f"{stamp(i)} INFO request {i} handled\n")
        if i % 1000 == 3:
            out.append("Traceback (most recent call last):\n")  # no time of its own: stays with its line
    out.append(f"{stamp(LINES)} INFO the last line\n")
    path.write_text("".join(out), encoding="utf-8")
    return path


async def test_a_big_file_shows_its_end_first_then_every_line_in_file_order(big_log: Path) -> None:
    spec = FileSource(provider="file", name="big", path=str(big_log), follow=False)
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
        await pilot.pause(0.1)
        store = app.store
        shown = [store.message[r - store.first] for r in pane.lines.rows if not store.is_marker(r)]
        assert shown == lines
        assert [store.seq[r - store.first] for r in pane.lines.rows if not store.is_marker(r)] == list(
            range(1, len(lines) + 1)
        )
        assert pane.follow
        assert pane.scroll_y == pane.max_scroll_y
        assert isinstance(app.store.event(pane.lines.rows[-1]), LogEvent)
