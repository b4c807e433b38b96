"""`python -m benchmarks [--quick] [--only NAME ...]`: run, print one table, save JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import sys
import time
import traceback
from typing import Any

from benchmarks import BENCHMARKS
from benchmarks.common import ROOT, Figure

RESULTS = ROOT / "benchmarks" / "results"


def _fmt(x: float | None, unit: str) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if unit == "s":
        return f"{x * 1000:,.1f} ms" if x < 1 else f"{x:,.2f} s"
    if unit == "B":
        return f"{x / 2**20:,.1f} MiB" if x >= 2**20 else f"{x / 1024:,.1f} KiB"
    if unit == "B/s":
        return f"{x / 2**20:,.2f} MiB/s" if x >= 2**20 else f"{x / 1024:,.1f} KiB/s"
    if abs(x) >= 100:
        return f"{x:,.0f} {unit}"
    return f"{x:,.3g} {unit}"


def table(figures: list[Figure]) -> str:
    """A Markdown table: paste-able into the README as it is."""
    head = ("benchmark", "metric", "logview", "baseline", "ratio", "baseline is", "note")
    rows = [head, tuple("---" for _ in head)]
    for f in figures:
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "-"
        rows.append((f.bench, f.metric, _fmt(f.value, f.unit), _fmt(f.baseline, f.unit), ratio, f.baseline_is, f.note))
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows)


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of about a minute")
    p.add_argument("--only", action="append", metavar="NAME", choices=BENCHMARKS, help="run only this (repeatable)")
    ns = p.parse_args()
    chosen = ns.only or list(BENCHMARKS)
    figures: list[Figure] = []
    failed: list[str] = []
    started = time.time()
    for name in BENCHMARKS:
        if name not in chosen:
            continue
        print(f"{name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            figures.extend(module.run(ns.quick))
        except Exception:
            failed.append(name)
            traceback.print_exc()
        print(f"{name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    info = machine()
    print()
    print(
        f"machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, {info['platform']}"
        f"{', quick sizes' if ns.quick else ''}; ratio = logview / baseline"
    )
    print()
    print(table(figures))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    out = {
        "started": started,
        "quick": ns.quick,
        "machine": info,
        "figures": [f.as_dict() for f in figures],
        "failed": failed,
    }
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
