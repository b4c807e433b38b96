"""What every benchmark shares: figures, timing, child processes, a pty.

A figure is always a pair: logview's number and a baseline's number taken
in the same run on the same machine, so a noisy machine moves both and the
ratio stays meaningful.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@dataclass
class Figure:
    """One measured number next to its baseline; `ratio` is value / baseline."""

    bench: str
    metric: str
    value: float
    unit: str
    baseline: float | None
    baseline_is: str
    better: str = "lower"
    """"lower" or "higher": which way is good (for the reader, not for asserts)."""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        return d


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan when empty."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def log(msg: str) -> None:
    """Progress on stderr, so stdout holds only the table."""
    print(f"  · {msg}", file=sys.stderr, flush=True)


# --- child processes ---------------------------------------------------------------


def stop_process(proc: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """Terminate one child we started (its own session when it has one), then kill it."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
    try:
        proc.wait(timeout=grace)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def run_json_child(args: list[str], timeout: float) -> dict[str, Any]:
    """Run `python -m ...` to completion and parse the last stdout line as JSON."""
    proc = subprocess.Popen(
        [PYTHON, *args], cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise RuntimeError(f"child {' '.join(args)} timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed ({proc.returncode}): {err.strip()[-800:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# --- a terminal -------------------------------------------------------------------


class PtyProcess:
    """A program on a real pseudo-terminal, its output read and timestamped.

    A reader thread drains the master side all the time (a terminal app
    blocks when nobody reads), keeping every chunk with its arrival time.
    """

    def __init__(self, argv: list[str], cols: int = 120, rows: int = 40, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.cols = cols
        self.rows = rows
        self.env = child_env(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows), **(env or {}))
        self.env.pop("TEXTUAL", None)
        self.chunks: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._master = -1
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.started = 0.0

    def start(self) -> PtyProcess:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", self.rows, self.cols, 0, 0))
        self._master = master
        self.started = time.perf_counter()
        self._proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            preexec_fn=_take_controlling_tty,
        )
        os.close(slave)
        self._thread = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(self._master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            now = time.perf_counter()
            with self._lock:
                self.chunks.append((now, data))

    def send(self, data: bytes) -> float:
        """Write keys to the terminal; returns the time they were written."""
        t = time.perf_counter()
        os.write(self._master, data)
        return t

    def snapshot(self) -> list[tuple[float, bytes]]:
        with self._lock:
            return list(self.chunks)

    def bytes_between(self, t0: float, t1: float) -> int:
        return sum(len(d) for t, d in self.snapshot() if t0 <= t < t1)

    def wait_for(self, pred: Callable[[bytes], bool], after: float, timeout: float) -> float | None:
        """First time at or after `after` when a chunk (joined with its predecessor) satisfies `pred`."""
        deadline = time.perf_counter() + timeout
        seen = 0
        prev = b""
        while True:
            chunks = self.snapshot()
            for t, data in chunks[seen:]:
                if t >= after and pred(prev[-256:] + data):
                    return t
                prev = data
            seen = len(chunks)
            if time.perf_counter() > deadline or not self.alive():
                return None
            time.sleep(0.002)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, quit_keys: bytes = b"q") -> None:
        if self._proc is not None:
            if self.alive() and quit_keys:
                with contextlib.suppress(OSError):
                    os.write(self._master, quit_keys)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=3)
            stop_process(self._proc)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._master >= 0:
            with contextlib.suppress(OSError):
                os.close(self._master)
            self._master = -1

    def __enter__(self) -> PtyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _take_controlling_tty() -> None:
    """In the child, after setsid: make the pty its controlling terminal, as a real one is."""
    with contextlib.suppress(OSError):
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
