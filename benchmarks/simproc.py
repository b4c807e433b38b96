"""The simulator in a process of its own, so it never competes with the client for the GIL.

`python -m benchmarks.simproc live --rate R [--backlog B] [--goldrush-tail K]`
serves all five APIs like `logview demo-server` (GoldRush's tails K lines long,
its pods never replaced); `python -m benchmarks.simproc backlog --n N`
serves N records per source that all exist already, with RunPod's records
rendered ahead of time so the server is never what is being measured.
The child prints one JSON line (base URL, source tables, key variables)
and runs until its standard input closes, so it dies with its parent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from benchmarks.common import PYTHON, ROOT, child_env, stop_process


@contextlib.contextmanager
def sim_process(*args: str, timeout: float = 120.0) -> Iterator[dict[str, Any]]:
    """Start the simulator child; yields what it printed (base_url, sources, env)."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "benchmarks.simproc", *args],
        cwd=ROOT,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                raise RuntimeError(f"the simulator child did not start ({' '.join(args)})")
            ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
            if ready:
                b = os.read(proc.stdout.fileno(), 1 << 16)
                if not b:
                    raise RuntimeError("the simulator child exited")
                line += b
        info: dict[str, Any] = json.loads(line)
        info["pid"] = proc.pid
        yield info
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        stop_process(proc)


def specs_from(info: dict[str, Any], providers: tuple[str, ...] | None = None, **overrides: Any) -> list[Any]:
    """Validated source specs for the child's sources; sets the demo keys in this process."""
    from logview.config import Settings, finalize_names

    os.environ.update(info["env"])
    tables = []
    for table in info["sources"]:
        if providers is not None and table["provider"] not in providers:
            continue
        t = {**table, "api_key_env": f"LOGVIEW_DEMO_{table['provider'].upper()}_KEY"}
        t.update(overrides.get(table["provider"], {}))
        tables.append(t)
    return finalize_names(list(Settings.model_validate({"sources": tables}).sources))


def _prerender_runpod(sim: Any, n: int) -> None:
    """Render worker 0's first n frames once; the sim's stream then only joins strings."""
    from logview.sim.runpod import WORKERS

    rp = sim.runpod
    original_record = rp.record
    records = [original_record(i) for i in range(n)]
    frames: list[str] = [rp._frame(r) for r in records]

    def record(i: int, worker_id: str = WORKERS[0]) -> Any:
        return records[i] if worker_id == WORKERS[0] and 0 <= i < n else original_record(i, worker_id)

    def frame(rec: Any, complete: bool = True) -> str:
        if complete and rec.index < n and records[rec.index] is rec:
            return frames[int(rec.index)]
        return str(type(rp)._frame(rp, rec, complete))

    rp.record = record
    rp._frame = frame


def _prefill_feldera(sim: Any, n: int) -> int:
    """A buffer big enough for all n records, filled now, then `Logs have ended`.

    Every connection replays it whole at once: the text stream at full speed.
    Returns how many lines it holds.
    """
    fe = sim.feldera
    fe.capacity_lines = 10 * n + 10
    fe.capacity_bytes = 1 << 40
    fe.end_after = n
    return len(fe.buffer())


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.simproc")
    sub = p.add_subparsers(dest="mode", required=True)
    live = sub.add_parser("live")
    live.add_argument("--rate", type=float, required=True)
    live.add_argument("--backlog", type=int, default=0)
    live.add_argument("--goldrush-tail", type=int, default=0, help="lines per pod tail; no pod replacements")
    back = sub.add_parser("backlog")
    back.add_argument("--n", type=int, required=True)
    ns = p.parse_args()

    from logview.sim.server import SimParams, Simulator

    if ns.mode == "live":
        params = SimParams(seed=7, rate=ns.rate, backlog=ns.backlog)
    else:
        # every record exists at start (backlog == total), 1 ms apart in the past
        params = SimParams(seed=7, rate=1000.0, backlog=ns.n, total=ns.n)
    sim = Simulator(params)
    extra: dict[str, Any] = {}
    if ns.mode == "backlog":
        _prerender_runpod(sim, ns.n)
        extra["feldera_lines"] = _prefill_feldera(sim, ns.n)
    elif ns.goldrush_tail:
        sim.goldrush.tail_lines = ns.goldrush_tail
        sim.goldrush.replace_every = None
    sim.start()
    info = {"base_url": sim.base_url, "sources": sim.demo_sources(), "env": sim.demo_env(), **extra}
    print(json.dumps(info), flush=True)
    try:
        sys.stdin.read()  # until the parent closes it (or dies)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
