"""`logview tail`: its two output formats (a public interface) and how the process behaves.

The process tests run the real command as CI would: no terminal, stdin from
/dev/null, the user's own config out of reach.
"""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

import pytest

from logview.config import FileSource
from logview.model import Level, LogEvent, SourceStatus, State
from logview.tail import JSONL_KEYS, TextFormatter, format_jsonl, format_status, run_tail, use_color

T = datetime(2026, 5, 28, 12, 0, 1, 250000, tzinfo=UTC)
FIVE = {"runpod", "fal", "feldera", "chronoverse", "goldrush"}


def ev(message: str = "hello", **kw: Any) -> LogEvent:
    fields: dict[str, Any] = {"source": "api", "provider": "runpod", "ts": T, **kw}
    return LogEvent(message=message, **fields)


# --- jsonl ------------------------------------------------------------------------


def test_jsonl_has_exactly_the_documented_keys() -> None:
    obj = json.loads(format_jsonl(ev(level=Level.WARN, pod="w1", stream="stderr", seq=42, fields={"a": "b"})))
    assert (
        tuple(obj) == JSONL_KEYS == ("source", "provider", "pod", "stream", "level", "ts", "seq", "message", "fields")
    )
    assert obj == {
        "source": "api",
        "provider": "runpod",
        "pod": "w1",
        "stream": "stderr",
        "level": "WARN",
        "ts": "2026-05-28T12:00:01.250000Z",
        "seq": 42,
        "message": "hello",
        "fields": {"a": "b"},
    }


def test_jsonl_empty_fields_are_null() -> None:
    obj = json.loads(format_jsonl(ev()))
    assert [obj[k] for k in ("pod", "stream", "level", "seq")] == [None, None, None, None]
    assert obj["fields"] == {}


def test_jsonl_ts_is_rfc3339_utc_with_z_whatever_the_zone() -> None:
    local = T.astimezone(timezone(timedelta(hours=-5)))
    assert json.loads(format_jsonl(ev(ts=local)))["ts"] == "2026-05-28T12:00:01.250000Z"
    assert json.loads(format_jsonl(ev(ts=T.replace(microsecond=0))))["ts"] == "2026-05-28T12:00:01Z"


def test_jsonl_is_one_line_even_for_a_multi_line_message() -> None:
    line = format_jsonl(ev("Traceback:\n  File x\nValueError: é"))
    assert "\n" not in line
    assert json.loads(line)["message"] == "Traceback:\n  File x\nValueError: é"


# --- text -------------------------------------------------------------------------


def test_text_is_ts_level_source_message() -> None:
    assert TextFormatter(color=False)(ev(level=Level.ERROR)) == "2026-05-28T12:00:01.250000Z ERROR api hello"


def test_text_names_the_pod_after_the_source() -> None:
    assert (
        TextFormatter(color=False)(ev(level=Level.INFO, pod="w1")) == "2026-05-28T12:00:01.250000Z INFO  api/w1 hello"
    )


def test_text_without_a_level_shows_a_dash() -> None:
    assert TextFormatter(color=False)(ev()) == "2026-05-28T12:00:01.250000Z -     api hello"


def test_text_indents_continuation_lines() -> None:
    out = TextFormatter(color=False)(ev("first\nsecond\nthird", level=Level.ERROR))
    assert out.split("\n") == ["2026-05-28T12:00:01.250000Z ERROR api first", "    second", "    third"]


def test_text_without_colour_drops_the_messages_own_colours() -> None:
    assert TextFormatter(color=False)(ev("\x1b[31mred\x1b[0m")).endswith(" api red")


def test_text_with_colour_colours_level_and_source() -> None:
    out = TextFormatter(color=True)(ev(level=Level.ERROR))
    assert "\x1b[31mERROR" in out
    assert out.endswith("hello\x1b[0m")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_colour_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert (use_color(Terminal()), use_color(io.StringIO())) == (True, False)


def test_no_color_turns_colour_off_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Terminal()) is False


def test_a_status_line_names_source_pod_and_state() -> None:
    status = SourceStatus("api", State.POD_GONE, "pod went\naway \x1b]0;x\x07", pod="w1")
    assert format_status(status) == "logview: api/w1: pod-gone: pod went away \u241b]0;x\u2407"


async def test_events_go_to_stdout_and_statuses_to_stderr(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("one\ntwo\n")
    out, err = io.StringIO(), io.StringIO()
    spec = FileSource(provider="file", name="app", path=str(path), follow=False)
    assert await run_tail([spec], "text", out=out, err=err) == 0
    assert [line.split(None, 2)[2] for line in out.getvalue().splitlines()] == ["app one", "app two"]
    assert err.getvalue().splitlines() == ["logview: app: live: live", "logview: app: ended: the stream has ended"]


async def test_a_failed_source_makes_the_exit_code_one(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    spec = FileSource(provider="file", name="gone", path=str(tmp_path / "gone.log"))
    assert await run_tail([spec], "jsonl", out=out, err=err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().startswith("logview: gone: failed: no such file")


# --- the process -------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """CI-like: no colour preference, no config of the user's, no keys."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LOGVIEW", "NO_COLOR", "RUNPOD", "FAL_", "XDG_"))}
    return {**keep, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONUNBUFFERED": "0"}


def logview(env: dict[str, str], *args: str, stdin: int | IO[bytes] = subprocess.DEVNULL) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "logview.cli", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # a signal for it does not reach pytest
    )


def lines_of(stream: IO[str]) -> queue.Queue[str | None]:
    """The lines of a pipe, read in a thread so the test can wait with a deadline."""
    q: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return q


def take(q: queue.Queue[str | None], deadline: float) -> Iterator[str]:
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = q.get(timeout=left)
        except queue.Empty:
            return
        if line is None:
            return
        yield line


def take_n(q: queue.Queue[str | None], n: int, timeout: float = 10) -> list[str]:
    got: list[str] = []
    for line in take(q, time.monotonic() + timeout):
        got.append(line)
        if len(got) == n:
            break
    return got


def finish(proc: subprocess.Popen[str], timeout: float = 10) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "logview.toml"
    path.write_text(text)
    return path


def test_demo_jsonl_shows_all_five_providers_then_exits_cleanly_on_sigint(env: dict[str, str]) -> None:
    proc = logview(env, "tail", "--demo", "--rate", "50", "--format", "jsonl")
    assert proc.stdout is not None and proc.stderr is not None
    out = lines_of(proc.stdout)
    seen: set[str] = set()
    got: list[str] = []
    for line in take(out, time.monotonic() + 5):
        got.append(line)
        seen.add(json.loads(line)["provider"])
        if seen == FIVE:
            break
    proc.send_signal(signal.SIGINT)
    got += take(out, time.monotonic() + 10)
    assert finish(proc) == 0, proc.stderr.read()
    assert seen == FIVE
    assert all(line.endswith("\n") and set(json.loads(line)) == set(JSONL_KEYS) for line in got)
    assert "Traceback" not in proc.stderr.read()


def test_a_file_without_follow_prints_every_line_and_exits_zero(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "app.log").write_text("".join(f"2026-05-28T12:00:{i:02d}Z INFO line {i}\n" for i in range(50)))
    cfg = config(tmp_path, f'[[sources]]\nprovider = "file"\npath = "{tmp_path / "app.log"}"\nfollow = false\n')
    proc = logview(env, "tail", "--config", str(cfg))
    stdout, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0, stderr
    lines = [f"2026-05-28T12:00:{i:02d}Z INFO line {i}" for i in range(50)]
    assert stdout.splitlines() == [f"{line[:20]} INFO  app.log {line}" for line in lines]


def test_a_bad_uri_exits_two_with_one_line(env: dict[str, str]) -> None:
    proc = logview(env, "tail", "runpod://only-an-endpoint")
    stdout, stderr = proc.communicate(timeout=15)
    assert (proc.returncode, stdout) == (2, "")
    assert stderr.splitlines() == ["logview: runpod://only-an-endpoint: expected runpod://ENDPOINT_ID/WORKER_ID"]


def test_a_bad_config_file_exits_two_with_one_line(env: dict[str, str], tmp_path: Path) -> None:
    cfg = config(tmp_path, '[[sources]]\nprovider = "runpod"\n')
    proc = logview(env, "tail", "--config", str(cfg))
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 2
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith(f"logview: {cfg} line 1 (sources #1): ")


def test_no_sources_exits_two_saying_what_to_do(env: dict[str, str]) -> None:
    proc = logview(env, "tail")
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 2
    assert stderr.startswith("logview: no sources: ")


def test_a_missing_file_prints_a_failed_line_and_exits_one(env: dict[str, str], tmp_path: Path) -> None:
    proc = logview(env, "tail", str(tmp_path / "missing.log"))
    stdout, stderr = proc.communicate(timeout=15)
    assert (proc.returncode, stdout) == (1, "")
    assert stderr.splitlines() == [f"logview: missing.log: failed: no such file: {tmp_path / 'missing.log'}"]


def test_sigterm_flushes_and_exits_zero(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("one\ntwo\n")
    proc = logview(env, "tail", "--format", "jsonl", str(path))  # followed: it would run forever
    assert proc.stdout is not None and proc.stderr is not None
    out = lines_of(proc.stdout)
    got = take_n(out, 2)
    with path.open("a") as f:
        f.write("three\n")
    got += take_n(out, 1)
    proc.send_signal(signal.SIGTERM)
    got += take(out, time.monotonic() + 10)
    assert finish(proc) == 0
    assert [json.loads(line)["message"] for line in got] == ["one", "two", "three"]
    assert "Traceback" not in proc.stderr.read()


def test_sigint_while_waiting_on_stdin_exits_at_once(env: dict[str, str]) -> None:
    r, w = os.pipe()
    with os.fdopen(r, "rb") as stdin:
        proc = logview(env, "tail", "-", stdin=stdin)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        os.write(w, b"hello\n")
        (line,) = take_n(lines_of(proc.stdout), 1)
        assert line.endswith(" stdin hello\n")
        proc.send_signal(signal.SIGINT)  # the pipe stays open: stdin is still being waited on
        assert finish(proc, timeout=5) == 0
    finally:
        os.close(w)
    assert "Traceback" not in proc.stderr.read()


def test_stdout_closed_early_ends_without_a_traceback(env: dict[str, str]) -> None:
    proc = logview(env, "tail", "--demo", "--rate", "200")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    assert finish(proc) == 0
    assert "Traceback" not in proc.stderr.read()
