"""Ingest of a plain-text stream: Feldera's replayed buffer into the LogStore, in lines per second.

The simulator (its own process) holds N records in its buffer, replays it
on connect and then says `Logs have ended`. logview's path is `Streamer`
running `FelderaProvider` (line splitting, decoding, timestamp and level
parsing, the replay-dedupe window) into `LogStore.extend`, until the source
has ended. The baseline reads the same response with `httpx`'s
`aiter_lines()` and does nothing else. Both count the same wire lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx

from benchmarks.common import Figure, log, median
from benchmarks.simproc import sim_process, specs_from

END_LINE = "Logs have ended"


async def _logview(info: dict[str, Any]) -> tuple[float, int]:
    from logview.model import LogEvent
    from logview.providers import provider_class
    from logview.store import LogStore
    from logview.streaming import Streamer

    provider_class("feldera")  # import it now: module loading is start-up, not ingest

    specs = specs_from(info, ("feldera",))
    store = LogStore(max_lines=2 * info["feldera_lines"] + 10_000)
    streamer = Streamer(specs)
    start = time.perf_counter()
    async with contextlib.aclosing(streamer.batches()) as batches:
        async for batch in batches:
            store.extend([x for x in batch if isinstance(x, LogEvent)])
    elapsed = time.perf_counter() - start
    await streamer.close()
    return elapsed, len(store)


async def _baseline(info: dict[str, Any]) -> tuple[float, int]:
    spec = specs_from(info, ("feldera",))[0]
    url = f"{spec.url_root}/v0/pipelines/{spec.pipeline}/logs"
    headers = {"Authorization": f"Bearer {info['env']['LOGVIEW_DEMO_FELDERA_KEY']}"}
    count = 0
    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client, client.stream("GET", url, headers=headers) as resp:
        async for line in resp.aiter_lines():
            count += 1
            if line == END_LINE:
                break
    return time.perf_counter() - start, count


def run(quick: bool) -> list[Figure]:
    n = 30_000 if quick else 200_000
    reps = 1 if quick else 3
    ours: list[float] = []
    base: list[float] = []
    events = 0
    with sim_process("backlog", "--n", str(n)) as info:
        lines = info["feldera_lines"] + 1  # and `Logs have ended`
        for rep in range(reps):
            secs, got = asyncio.run(asyncio.wait_for(_baseline(info), 300))
            if got != lines:
                raise RuntimeError(f"the baseline read {got} lines, the buffer holds {lines}")
            base.append(lines / secs)
            log(f"ingest_text rep {rep + 1}/{reps}: httpx aiter_lines {lines / secs:,.0f} lines/s")
            secs, events = asyncio.run(asyncio.wait_for(_logview(info), 300))
            ours.append(lines / secs)
            log(f"ingest_text rep {rep + 1}/{reps}: logview {lines / secs:,.0f} lines/s ({events:,} events)")
    return [
        Figure(
            "ingest_text",
            f"Feldera text replay -> store, {lines:,} lines",
            median(ours),
            "lines/s",
            median(base),
            "httpx aiter_lines, same response",
            better="higher",
            note=f"{events:,} events; median of {reps}",
            extra={"logview": ours, "baseline": base, "lines": lines, "events": events},
        )
    ]
