"""Memory: peak RSS of a fresh process holding 1,000,000 ~100-byte events in a LogStore.

Three children generate the very same rows the same way (same imports,
same generator): one puts them into a `LogStore` as the app does, one keeps
only the message strings in a Python list (the least any Python viewer
must hold), one keeps nothing (the interpreter, imports and generator's
own footprint). Peak is VmHWM; "held" is VmRSS after the data is built and
a collection ran. The raw size is the UTF-8 bytes of the messages.
"""

from __future__ import annotations

import gc
import json
import sys

from benchmarks.common import Figure, log, run_json_child


def _status() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) * 1024
    return out


def child(kind: str, n: int) -> dict[str, int]:
    """Build the data in this process and report its memory."""
    from benchmarks.corpus import build_store, rows

    raw = 0
    held: object = None
    if kind == "store":
        store = build_store(n)
        raw = sum(len(m.encode()) for m in store.message)
        held = store
    elif kind == "list":
        lines = [r.message for r in rows(n)]
        raw = sum(len(m.encode()) for m in lines)
        held = lines
    else:
        for r in rows(n):
            raw += len(r.message.encode())
    gc.collect()
    st = _status()
    del held
    return {"peak": st["VmHWM"], "held": st["VmRSS"], "raw": raw}


def run(quick: bool) -> list[Figure]:
    n = 200_000 if quick else 1_000_000
    res = {}
    for kind in ("none", "list", "store"):
        res[kind] = run_json_child(["-m", "benchmarks.memory", kind, str(n)], timeout=600)
        log(f"memory {kind}: peak {res[kind]['peak'] / 2**20:,.0f} MiB, held {res[kind]['held'] / 2**20:,.0f} MiB")
    raw = res["store"]["raw"]
    floor = res["none"]["held"]
    store_cost = res["store"]["held"] - floor
    list_cost = res["list"]["held"] - floor
    return [
        Figure(
            "memory",
            f"peak RSS, {n:,} events in the store",
            res["store"]["peak"],
            "B",
            res["list"]["peak"],
            "same rows kept as a list[str] of messages",
            note=f"process with no data: {res['none']['peak'] / 2**20:,.0f} MiB peak",
            extra=res,
        ),
        Figure(
            "memory",
            f"held for {n:,} events, minus the no-data process",
            store_cost,
            "B",
            raw,
            "raw UTF-8 bytes of the messages",
            note=f"{store_cost / n:,.0f} B/event; the list[str] holds {list_cost / n:,.0f} B/event",
            extra={
                "store_bytes_per_event": store_cost / n,
                "list_bytes_per_event": list_cost / n,
                "raw_per_event": raw / n,
            },
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]))))
