"""Opening a big log file: time until its last line is on screen, next to Toolong and lnav.

A file of 1,000,000 lines (~110 MB; `--quick`: 200,000) is written to a
temporary directory. Each viewer is started on it in a fresh tmux session
of 120x40 on a private tmux server (its own socket in the temporary directory, so
no other tmux session is touched), and the time runs from starting the session until
`tmux capture-pane` shows the last line's unique text. The pane is polled
every 20 ms; the tmux server is started beforehand, so its start-up is not
counted. The viewers take turns, so a noisy moment hits them all alike, and
each is run once untimed first, so that no first-run work is timed.

logview runs from bytecode, as installed (see `as_installed`): Toolong, a
package that pip installed, does too.

The baseline is the faster of Toolong (`tl`, from `$LOGVIEW_BENCH_TOOLONG`
or PATH) and lnav (PATH); a viewer that is not installed is reported as
such and the run goes on without it.
"""

from __future__ import annotations

import contextlib
import os
import random
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import PYTHON, Figure, child_env, log, median

COLS, ROWS = 120, 40
TERM = "screen-256color"
POLL = 0.02
TIMEOUT = 120.0
"""Seconds a viewer gets to show the last line before it counts as not there."""


def write_log(path: Path, lines: int, marker: str) -> int:
    """A plausible service log, one timestamp per line; the last line holds `marker`. Returns bytes."""
    rng = random.Random(7)
    step = 86_400_000_000 // lines  # microseconds: the file spans one day
    with path.open("w", encoding="utf-8", newline="\n") as f:
        buf: list[str] = []
        for i in range(lines - 1):
            us = i * step
            s, us = divmod(us, 1_000_000)
            h, s = divmod(s, 3600)
            m, s = divmod(s, 60)
            level = "WARN" if i % 97 == 0 else "INFO"
            buf.append(
                f"2026-06-01T{h:02d}:{m:02d}:{s:02d}.{us:06d}Z {level} worker-{i % 8} request {i} handled in "
                f"{rng.random() * 100:.2f} ms path=/api/v1/items/{rng.randrange(100_000)} user=u{rng.randrange(1000)}\n"
            )
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
        buf.append(f"2026-06-01T23:59:59.999999Z INFO {marker} end of file\n")
        f.write("".join(buf))
    return path.stat().st_size


class Tmux:
    """A private tmux server (its own socket file): sessions of a fixed size, killed with the server."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket = socket
        self.env = env
        self._n = 0

    def cmd(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-S", self.socket, "-f", os.devnull, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def start_server(self) -> None:
        # a session that stays for the whole run keeps the server up between measurements
        self.cmd("new-session", "-d", "-s", "keep", "-x", str(COLS), "-y", str(ROWS), "sleep 100000")
        self.cmd("set-option", "-g", "default-terminal", TERM)

    def time_to_text(self, argv: list[str], text: str, timeout: float) -> float | None:
        """Seconds from starting `argv` in a new session until `text` is on its screen (None: never)."""
        self._n += 1
        name = f"open{self._n}"
        command = shlex.join(argv)
        start = time.perf_counter()
        self.cmd("new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS), command)
        try:
            deadline = start + timeout
            while time.perf_counter() < deadline:
                shown = self.cmd("capture-pane", "-p", "-t", name, check=False)
                if shown.returncode != 0:
                    return None  # the program exited: the session is gone
                if text in shown.stdout:
                    return time.perf_counter() - start
                time.sleep(POLL)
            return None
        finally:
            self.cmd("kill-session", "-t", name, check=False)
            time.sleep(0.3)  # let the viewer exit before the next one starts

    def kill_server(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.cmd("kill-server", check=False)


def _toolong() -> str | None:
    env = os.environ.get("LOGVIEW_BENCH_TOOLONG")
    if env:
        return env if Path(env).exists() else None
    return shutil.which("tl")


def _logview() -> list[str]:
    script = Path(PYTHON).with_name("logview")
    return [str(script)] if script.exists() else [PYTHON, "-m", "logview.cli"]


def as_installed(argv: list[str], cache: Path) -> list[str]:
    """A command that runs logview from bytecode, as an installed logview runs.

    pip compiles a package's modules when it installs it; from a checkout they
    are compiled on first import, and on every start where the environment
    says not to write bytecode (PYTHONDONTWRITEBYTECODE), ~0.1 s each time.
    Here the bytecode goes to `cache`, outside the checkout; an untimed first
    run writes it.
    """
    return ["env", "-u", "PYTHONDONTWRITEBYTECODE", f"PYTHONPYCACHEPREFIX={cache}", *argv]


def _fmt(t: float | None) -> str:
    return "did not show it" if t is None else f"{t:.2f} s"


def run(quick: bool) -> list[Figure]:
    lines = 200_000 if quick else 1_000_000
    reps = 1 if quick else 3
    if shutil.which("tmux") is None:
        log("open_file: tmux is not installed; skipped")
        return []
    marker = f"OPEN-FILE-LAST-LINE-{random.Random().getrandbits(48):012x}"
    with tempfile.TemporaryDirectory(prefix="logview-open-") as tmp:
        path = Path(tmp) / "big.log"
        size = write_log(path, lines, marker)
        with path.open("rb") as f:  # warm the page cache: every viewer reads it from memory
            while f.read(1 << 24):
                pass
        log(f"open_file: {lines:,} lines, {size / 1e6:.0f} MB")
        env = child_env(TERM=TERM, LOGVIEW_CONFIG=str(Path(tmp) / "no-config.toml"))
        env.pop("TMUX", None)
        env.pop("TEXTUAL", None)
        # an empty config file: the user's own sources and settings stay out of it
        (Path(tmp) / "no-config.toml").write_text("", encoding="utf-8")
        viewers: dict[str, list[str] | None] = {
            "logview": as_installed([*_logview(), str(path)], Path(tmp) / "pycache"),
            "Toolong": [tl, str(path)] if (tl := _toolong()) else None,
            "lnav": [lnav, str(path)] if (lnav := shutil.which("lnav")) else None,
        }
        times: dict[str, list[float | None]] = {name: [] for name in viewers}
        tmux = Tmux(str(Path(tmp) / "tmux.sock"), env)
        try:
            tmux.start_server()
            for argv in viewers.values():
                if argv is not None:
                    tmux.time_to_text(argv, marker, TIMEOUT)  # the untimed first run
            for _ in range(reps):
                for name, argv in viewers.items():
                    if argv is None:
                        continue
                    t = tmux.time_to_text(argv, marker, TIMEOUT)
                    times[name].append(t)
                    log(f"open_file: {name} {_fmt(t)}")
        finally:
            tmux.kill_server()

    def summary(name: str) -> float | None:
        got = times[name]
        if not got or any(t is None for t in got):
            return None
        return median([t for t in got if t is not None])

    figures: dict[str, float | None] = {name: summary(name) for name in viewers}
    said = {
        name: "not installed" if viewers[name] is None else _fmt(figures[name]) if times[name] else "not run"
        for name in ("Toolong", "lnav")
    }
    others = [(figures[n], n) for n in ("Toolong", "lnav") if figures[n] is not None]
    best = min(others, key=lambda x: x[0] or 0.0) if others else None
    ours = figures["logview"]
    return [
        Figure(
            "open_file",
            f"{lines:,}-line file ({size / 1e6:.0f} MB) until its last line is on screen (tmux {COLS}x{ROWS})",
            ours if ours is not None else float("nan"),
            "s",
            best[0] if best else None,
            f"the faster of Toolong and lnav: {best[1]}" if best else "Toolong and lnav: neither installed",
            note=f"median of {reps}; Toolong {said['Toolong']}, lnav {said['lnav']}"
            + ("" if ours is not None else f"; logview did not show it within {TIMEOUT:.0f} s"),
            extra={"runs": times, "lines": lines, "bytes": size},
        )
    ]
