"""Soak: all five providers through seeded chaos for M minutes; lost and repeated must be 0.

Off by default (slow): `python -m benchmarks.soak --minutes 3 [--rate 300] [--chaos SPEC]`.
Each provider streams `rate * 60 * minutes` records through the chaos layer
and reconnects at once after every retryable error; per provider it prints
events delivered, faults injected, connections, lost and repeated.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from logview.sim.audit import AUDITS, PROVIDERS, Audit, Run, drive, prepare
from logview.sim.chaos import Chaos, ChaosSpec
from logview.sim.server import SimParams, Simulator

DEFAULT_CHAOS = "cut=0.003,stall=0.0005:0.5,status=0.05,malformed=0.002,drip=0.003,noise=0.003,seed=7"
STALL_TIMEOUT = 0.25
"""Short stall timeouts so a half-open connection costs a quarter second, not minutes."""


async def _one(audit: Audit, timeout: float) -> Run:
    base = type(audit.provider())
    cls = (
        base if base.stall_timeout is None else type(f"Soak{base.__name__}", (base,), {"stall_timeout": STALL_TIMEOUT})
    )
    return await drive(audit.provider(cls), audit.complete, timeout)


async def soak(minutes: float, rate: float, spec: ChaosSpec) -> int:
    n = int(rate * 60 * minutes)
    with Simulator(SimParams(seed=spec.seed, rate=rate, t0=time.time()), chaos=spec) as sim:
        prepare(sim, n)
        sim.goldrush.tail_lines = 1_000
        async with httpx.AsyncClient() as client:
            audits = [AUDITS[name](sim, client, n) for name in PROVIDERS]
            runs = await asyncio.gather(*(_one(a, minutes * 60 * 2 + 60) for a in audits))
    print(f"soak: {minutes:g} min, {n:,} records per provider at {rate:g}/s, chaos {spec}")
    print(f"{'provider':<12} {'delivered':>10} {'faults':>7} {'conns':>6} {'lost':>6} {'repeated':>9} {'order':>6}")
    bad = 0
    for audit, run in zip(audits, runs, strict=True):
        chaos = getattr(sim, audit.name).chaos
        assert isinstance(chaos, Chaos)
        v = audit.verdict(run)
        bad += not v.exact
        order = "ok" if v.in_order else "WRONG"
        print(
            f"{audit.name:<12} {v.delivered:>10,} {chaos.total:>7} {run.connections:>6} {v.lost:>6} {v.repeated:>9} {order:>6}"
        )
    return 1 if bad else 0


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--rate", type=float, default=300.0, help="records per second per provider")
    p.add_argument("--chaos", default=DEFAULT_CHAOS, help="chaos spec (grammar: logview/sim/chaos.py)")
    ns = p.parse_args()
    return asyncio.run(soak(ns.minutes, ns.rate, ChaosSpec.parse(ns.chaos)))


if __name__ == "__main__":
    raise SystemExit(main())
