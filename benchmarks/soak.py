"""Soak: all five providers through seeded chaos for M minutes; nothing lost silently, nothing repeated.

Off by default (slow): `python -m benchmarks.soak --minutes 5 [--rate 300] [--chaos SPEC]`.
The simulator emits `rate * 60 * minutes` records per provider in real time
(record i at t0 + i / rate) through the chaos layer; each adapter is driven
as the streamer drives it, reconnecting at once after every retryable error
(logview/sim/audit.py), and what it delivered is compared with what the
server emitted. Progress goes to stderr every `--every` seconds, with a
warning when a provider makes no progress for `--stall-warning` seconds;
`--timeout` bounds the whole run. The final table (stdout) gives per
provider: records expected and delivered, lost (and how many of them a gap
marker announced), repeated, order, gap markers, unparseable frames shown,
connections, faults injected by kind, and wall time.

Exit status 0 when every provider delivered everything exactly once in
order, or lost only what a gap marker announced (Feldera's buffer rotating
past us, a GoldRush tail moving on); 1 otherwise (silent loss, a repeat,
disorder, or a provider that did not finish in time).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from dataclasses import dataclass, field

import httpx

from logview.sim.audit import AUDITS, PROVIDERS, Audit, Run, drive, prepare
from logview.sim.chaos import Chaos, ChaosSpec
from logview.sim.server import SimParams, Simulator

DEFAULT_CHAOS = "cut=0.003,stall=0.0005:0.5,status=0.05,malformed=0.002,drip=0.003,noise=0.003,seed=7"
STALL_TIMEOUT = 0.25
"""Short stall timeouts so a half-open connection costs a quarter second, not minutes."""
NAMES = {"runpod": "RunPod", "fal": "fal", "feldera": "Feldera", "chronoverse": "Chronoverse", "goldrush": "GoldRush"}


@dataclass
class Track:
    """One provider's soak: its audit, the run filling up, and when it finished."""

    audit: Audit
    chaos: Chaos
    run: Run = field(default_factory=Run)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    outcome: str = "running"
    """running, done (all delivered), ended (the source ended first), timeout, error: ..."""
    last_count: int = 0
    last_progress: float = field(default_factory=time.monotonic)
    warned: bool = False

    @property
    def wall(self) -> float:
        return (self.finished or time.monotonic()) - self.started


async def _one(track: Track, timeout: float) -> None:
    audit = track.audit
    base = type(audit.provider())
    cls = (
        base if base.stall_timeout is None else type(f"Soak{base.__name__}", (base,), {"stall_timeout": STALL_TIMEOUT})
    )
    try:
        provider = audit.provider(cls)
        await drive(provider, audit.complete, timeout, run=track.run)
        track.outcome = "done" if audit.complete(track.run) else ("ended" if provider.finished else "timeout")
    except asyncio.CancelledError:
        track.outcome = "timeout"
        raise
    except Exception as e:  # a bug in an adapter: report it with the figures, don't lose them
        track.outcome = f"error: {type(e).__name__}: {e}"
    finally:
        track.finished = time.monotonic()


def _faults(chaos: Chaos) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(chaos.injected.items())) or "none"


def _progress(tracks: list[Track], t0: float, stall_warning: float) -> None:
    now = time.monotonic()
    parts = []
    for t in tracks:
        n = len(t.run.events)
        if n != t.last_count:
            t.last_count, t.last_progress, t.warned = n, now, False
        state = "" if t.outcome == "running" else f" {t.outcome}"
        parts.append(f"{t.audit.name} {n:,}/{t.audit.expected_total():,} c{t.run.connections} f{t.chaos.total}{state}")
        if t.outcome == "running" and now - t.last_progress >= stall_warning and not t.warned:
            t.warned = True
            errors = ", ".join(f"{k} {v}" for k, v in t.run.errors.items()) or "none"
            last = t.run.statuses[-1].message if t.run.statuses else "no status yet"
            print(
                f"soak: WARNING: {t.audit.name} has delivered nothing new for {now - t.last_progress:.0f} s "
                f"({n:,} of {t.audit.expected_total():,}; {t.run.connections} connections; "
                f"errors: {errors}; last status: {last})",
                file=sys.stderr,
                flush=True,
            )
    print(f"soak: {now - t0:6.0f} s  " + " | ".join(parts), file=sys.stderr, flush=True)


def report(tracks: list[Track], markdown: bool) -> int:
    bad = 0
    rows = []
    for t in tracks:
        v = t.audit.verdict(t.run)
        ok = t.outcome in ("done", "ended") and v.honest
        bad += not ok
        lost = f"{v.lost:,}" + (f" ({v.announced:,} announced)" if v.announced else "")
        rows.append(
            [
                NAMES[t.audit.name],
                f"{t.audit.expected_total():,}",
                f"{v.delivered:,}",
                lost,
                f"{v.repeated:,}",
                "ok" if v.in_order else "WRONG",
                f"{v.gaps}",
                f"{len(t.run.garbage):,}",
                f"{t.run.connections:,}",
                f"{t.chaos.total:,}",
                f"{t.wall:.0f} s",
                "ok" if ok else "FAIL" if t.outcome in ("done", "ended") else t.outcome.partition(":")[0].upper(),
            ]
        )
    head = [
        "provider",
        "emitted",
        "delivered",
        "lost",
        "repeated",
        "order",
        "gaps",
        "garbage",
        "conns",
        "faults",
        "wall",
        "verdict",
    ]
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        print(
            "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True)))
        )
        for r in rows:
            print(
                "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            )
    print("faults injected by kind:")
    for t in tracks:
        print(f"  {NAMES[t.audit.name]:<12} {_faults(t.chaos)}")
    for t in tracks:
        if t.outcome.startswith("error"):
            print(f"soak: {t.audit.name}: {t.outcome}")
    return 1 if bad else 0


def _setup_seconds(n: int, rate: float) -> float:
    """How long computing `n` expected records per provider will take, from a small sample.

    The records are scheduled from t0 on; t0 is put this far ahead so that
    nothing is due before the adapters start (a backlog would rotate out of
    Feldera's buffer and past GoldRush's tails: a loss the soak did not mean).
    """
    m = min(n, 3_000)
    with Simulator(SimParams(seed=0, rate=rate, t0=time.time())) as sim:
        prepare(sim, m)
        client = httpx.AsyncClient()
        started = time.monotonic()
        for name in PROVIDERS:
            AUDITS[name](sim, client, m).expected_total()
        took = time.monotonic() - started
    return took * n / m * 1.25 + 2.0


async def soak(
    minutes: float, rate: float, spec: ChaosSpec, *, timeout: float, every: float, stall_warning: float, markdown: bool
) -> int:
    n = int(rate * 60 * minutes)
    print(f"soak: {minutes:g} min, {n:,} records per provider at {rate:g}/s, chaos {spec}", flush=True)
    lead = _setup_seconds(n, rate)
    first_due = time.time() + lead
    with Simulator(SimParams(seed=spec.seed, rate=rate, t0=first_due), chaos=spec) as sim:
        prepare(sim, n)
        sim.goldrush.tail_lines = 1_000
        async with httpx.AsyncClient() as client:
            tracks = []
            for name in PROVIDERS:
                chaos = getattr(sim, name).chaos
                assert isinstance(chaos, Chaos)
                tracks.append(Track(AUDITS[name](sim, client, n), chaos))
            for t in tracks:  # what the server will emit, computed before the first record is due
                t.audit.expected_total()
            late = time.time() - first_due
            print(
                f"soak: expected records computed; the first record is due {'in' if late < 0 else 'since'} {abs(late):.1f} s",
                file=sys.stderr,
                flush=True,
            )
            await asyncio.sleep(max(0.0, -late))
            t0 = time.monotonic()
            for t in tracks:
                t.started = t.last_progress = t0
            tasks = [asyncio.create_task(_one(t, timeout)) for t in tracks]
            deadline = t0 + timeout
            pending = set(tasks)
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    print(f"soak: TIMEOUT after {timeout:g} s; stopping {len(pending)} provider(s)", file=sys.stderr)
                    for task in pending:
                        task.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    break
                _, pending = await asyncio.wait(pending, timeout=min(every, left))
                _progress(tracks, t0, stall_warning)
    print(f"soak: finished in {time.monotonic() - t0:.0f} s")
    return report(tracks, markdown)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=3.0, help="how long the server emits records (default 3)")
    p.add_argument("--rate", type=float, default=300.0, help="records per second per provider (default 300)")
    p.add_argument("--chaos", default=DEFAULT_CHAOS, help="chaos spec (grammar: logview/sim/chaos.py)")
    p.add_argument(
        "--timeout", type=float, help="stop the whole run after this many seconds (default: 1.5 × minutes + 2 min)"
    )
    p.add_argument("--every", type=float, default=10.0, help="seconds between progress lines (default 10)")
    p.add_argument(
        "--stall-warning", type=float, default=30.0, help="warn when a provider delivers nothing for this long"
    )
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ns = p.parse_args()
    # uvicorn writing into a socket the client has just dropped is the chaos working, not news
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    timeout = ns.timeout if ns.timeout is not None else ns.minutes * 90 + 120
    spec = ChaosSpec.parse(ns.chaos)
    return asyncio.run(
        soak(
            ns.minutes,
            ns.rate,
            spec,
            timeout=timeout,
            every=ns.every,
            stall_warning=ns.stall_warning,
            markdown=ns.markdown,
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
