"""The real TUI on a pseudo-terminal quits cleanly: exit 0, terminal restored, nothing left behind.

`logview --demo` (the simulator runs inside the process, on a thread) is
started on a pty as a terminal would start it; once the first log line is
on screen it is told to stop by `q`, by the Ctrl-C byte, by SIGINT and by
SIGTERM. Each time the process must exit with 0, its last bytes must leave
the alternate screen and show the cursor again, nothing after that may be
a traceback, and no process of its session may outlive it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if not hasattr(os, "openpty") or sys.platform == "win32":  # skip where there are no pseudo-terminals
    pytest.skip("no pseudo-terminals here", allow_module_level=True)

from benchmarks.common import PYTHON, PtyProcess

LEAVE_ALT_SCREEN = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"
FIRST_LINE = b"sdxl-worker"
"""A source name from the demo: the first screen has come."""


def _session_members(sid: int) -> list[int]:
    """Processes whose session is `sid` (the app was started as a session leader)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 3 and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


@pytest.fixture
def app() -> Iterator[PtyProcess]:
    try:
        term = PtyProcess([PYTHON, "-m", "logview.cli", "--demo"], env={"CI": "true"}).start()
    except OSError as e:
        pytest.skip(f"no pseudo-terminal: {e}")
    try:
        if term.wait_for(lambda b: FIRST_LINE in b, after=0.0, timeout=60) is None:
            out = b"".join(d for _, d in term.snapshot())
            pytest.fail(f"no first screen from logview --demo; output ends {out[-600:]!r}")
        yield term
    finally:
        term.stop(quit_keys=b"")


def _stop_and_check(term: PtyProcess, how: str) -> None:
    proc = term._proc
    assert proc is not None
    if how == "key q":
        term.send(b"q")
    elif how == "key ctrl+c":
        term.send(b"\x03")
    else:
        os.kill(proc.pid, getattr(signal, how))
    try:
        code = proc.wait(timeout=15)  # a liveness bound, not a speed figure: it takes about a second
    except subprocess.TimeoutExpired:
        pytest.fail(f"logview still running 15 s after {how}")
    time.sleep(0.2)  # the reader thread drains what was written last
    out = b"".join(d for _, d in term.snapshot())
    assert code == 0, (code, out[-600:])
    assert LEAVE_ALT_SCREEN in out, f"the alternate screen was never left: {out[-300:]!r}"
    after = out[out.rindex(LEAVE_ALT_SCREEN) :]
    assert SHOW_CURSOR in after, f"the cursor stays hidden: {after!r}"
    assert b"Traceback" not in after and b"Error" not in after, after
    if Path("/proc/self/stat").exists():
        assert _session_members(proc.pid) == [], "a process of the app's session outlived it"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["key q", "SIGINT", "SIGTERM"])
def test_the_demo_quits_cleanly_and_restores_the_terminal(app: PtyProcess, how: str) -> None:
    _stop_and_check(app, how)


@pytest.mark.timeout(90)
def test_the_ctrl_c_key_quits_the_demo_cleanly(app: PtyProcess) -> None:
    _stop_and_check(app, "key ctrl+c")
