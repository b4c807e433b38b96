"""Start-up: what `logview` does before the UI draws, and what it leaves for later.

The first screen comes sooner when nothing is loaded that it does not need
(pydantic, Textual for `--version`), when a big file's end is read while the
UI loads, and when the theme is set before the widgets are styled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from textual.app import App

from logview import cli
from logview.config import FileSource, StdinSource
from logview.providers import local
from logview.ui.app import LogviewApp
from logview.ui.themes import DEFAULT_THEME


def loaded_after(code: str) -> list[str]:
    """Which of the heavy libraries a fresh interpreter has loaded after `code`."""
    probe = (
        "\nimport json, sys\nprint(json.dumps(sorted(m for m in ('pydantic', 'textual', 'httpx') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code + probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded


def test_version_loads_none_of_the_heavy_libraries() -> None:
    code = "from logview.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass"
    assert loaded_after(code) == []


def test_a_file_is_ready_for_the_ui_without_pydantic_or_http(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("2026-06-01T00:00:00Z INFO hello\n", encoding="utf-8")
    code = f"""
import os
os.environ["LOGVIEW_CONFIG"] = {str(tmp_path / "none.toml")!r}
open(os.environ["LOGVIEW_CONFIG"], "w").close()
from logview import cli
ns = cli.build_parsers()[0].parse_args([{str(log)!r}])
settings, specs, sim = cli._load(ns)
cli._read_ends_ahead(specs)
cli._import_adapters(specs)
"""
    assert loaded_after(code) == []


def big_log(path: Path, lines: int = 20_000) -> Path:
    path.write_text(
        "".join(
            f"2026-06-01T00:{i // 600 % 60:02d}:{i // 10 % 60:02d}.{i % 10}00Z INFO line {i}\n" for i in range(lines)
        ),
        encoding="utf-8",
    )
    return path


def test_the_ends_of_big_files_are_read_while_the_ui_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_ahead", {})
    monkeypatch.setattr(local, "TAIL_BYTES", 16 * 1024)
    big = big_log(tmp_path / "big.log")
    small = tmp_path / "small.log"
    small.write_text("one line\n", encoding="utf-8")
    specs = [
        FileSource(provider="file", name="big", path=str(big)),
        FileSource(provider="file", name="small", path=str(small)),
        StdinSource(provider="stdin"),
    ]
    cli._read_ends_ahead(specs)
    assert list(local._ahead) == [str(big)]  # a small file is read in order, at once
    done, result = local._ahead[str(big)]
    assert done.wait(10)
    (end,) = result
    assert end is not None
    data = big.read_bytes()
    assert end.before == data[: end.start].count(b"\n")
    assert data.endswith(end.data)


def test_pydantic_plugins_are_left_off_only_while_the_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "mine")
    with cli._without_pydantic_plugins():
        assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "mine"
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS")
    with cli._without_pydantic_plugins():
        pass
    assert "PYDANTIC_DISABLE_PLUGINS" not in os.environ


async def test_the_theme_is_set_before_the_widgets_are_styled(monkeypatch: pytest.MonkeyPatch) -> None:
    """A theme set once the widgets are styled restyles them all (~0.05 s before the first frame)."""
    events: list[str] = []
    refresh_css = App.refresh_css
    compose = LogviewApp.compose

    def counted_refresh(self: App[Any], animate: bool = True) -> None:
        events.append("refresh_css")
        refresh_css(self, animate)

    def counted_compose(self: LogviewApp) -> Any:
        events.append("compose")
        return compose(self)

    monkeypatch.setattr(App, "refresh_css", counted_refresh)
    monkeypatch.setattr(LogviewApp, "compose", counted_compose)
    app = LogviewApp([StdinSource(provider="stdin", name="stdin")], stream=False)
    assert app.theme == DEFAULT_THEME  # before it runs
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.1)
        assert app.theme == DEFAULT_THEME
    assert "compose" in events
    assert "refresh_css" not in events[events.index("compose") :]
