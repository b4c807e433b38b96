"""Start-up: `logview --version`, and `logview --demo` to its first screen with a log line.

`--version` is timed as a whole process against `python -c pass` on the
same interpreter. The demo runs on a pty (120x40) and the time runs until
the terminal receives a frame holding a log line (a `HH:MM:SS.mmm` stamp:
the clock in the title has no milliseconds), against a minimal Textual app
on the same pty until its first frame: what any Textual app costs.

logview runs from bytecode, as installed (see `open_file.as_installed`);
each command runs once untimed first.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import PYTHON, ROOT, Figure, PtyProcess, child_env, log, median
from benchmarks.open_file import as_installed

LOG_LINE = re.compile(rb"\d\d:\d\d:\d\d\.\d\d\d")
HELLO = b"hello from a bare textual app"
HELLO_APP = f"""
from textual.app import App
from textual.widgets import Static

class Hello(App[None]):
    def compose(self):
        yield Static({HELLO.decode()!r})

Hello().run()
"""


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=True
    )
    return time.perf_counter() - start


def _first_frame(argv: list[str], found: re.Pattern[bytes]) -> float:
    with PtyProcess(argv) as term:
        t = term.wait_for(lambda data: found.search(data) is not None, term.started, timeout=60)
        if t is None:
            raise RuntimeError(f"no first frame from {' '.join(argv[1:])}")
        return t - term.started


def run(quick: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="logview-startup-") as tmp:
        return _run(quick, Path(tmp) / "pycache")


def _run(quick: bool, cache: Path) -> list[Figure]:
    reps = 3 if quick else 10
    screens = 2 if quick else 5
    logview = str(Path(PYTHON).with_name("logview"))
    version = [logview, "--version"] if Path(logview).exists() else [PYTHON, "-m", "logview.cli", "--version"]
    version = as_installed(version, cache)
    _wall(version)
    _wall([PYTHON, "-c", "pass"])
    ours, base = [], []
    for _ in range(reps):
        ours.append(_wall(version))
        base.append(_wall([PYTHON, "-c", "pass"]))
    log(f"startup --version {median(ours) * 1000:.0f} ms, python -c pass {median(base) * 1000:.0f} ms")
    demo_argv = as_installed([PYTHON, "-m", "logview.cli", "--demo"], cache)
    hello_argv = [PYTHON, "-c", HELLO_APP]
    _first_frame(demo_argv, LOG_LINE)
    _first_frame(hello_argv, re.compile(re.escape(HELLO)))
    demo, hello = [], []
    for _ in range(screens):
        demo.append(_first_frame(demo_argv, LOG_LINE))
        hello.append(_first_frame(hello_argv, re.compile(re.escape(HELLO))))
    log(f"startup --demo first log line {median(demo) * 1000:.0f} ms, bare textual {median(hello) * 1000:.0f} ms")
    return [
        Figure(
            "startup",
            "`logview --version`, wall",
            median(ours),
            "s",
            median(base),
            "`python -c pass`",
            note=f"median of {reps}",
            extra={"logview": ours, "baseline": base},
        ),
        Figure(
            "startup",
            "`logview --demo` to first log line on screen (pty)",
            median(demo),
            "s",
            median(hello),
            "bare Textual app to its first frame, same pty",
            note=f"median of {screens}; includes starting the simulator",
            extra={"logview": demo, "baseline": hello},
        ),
    ]
