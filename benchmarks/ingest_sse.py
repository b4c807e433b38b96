"""Ingest over SSE: RunPod records from the simulator into the LogStore, in events per second.

logview's path is the whole real one: `Streamer` running `RunPodProvider`
(our SSE decoder, JSON, level detection, sanitising, dedupe bookkeeping),
batches into `LogStore.extend`. The baseline reads the same stream with
the bare minimum a client can do: `httpx_sse.aconnect_sse` and one
`json.loads` per event. The simulator runs in its own process with its
records rendered ahead of time; the stream starts at record 0 (`since=`
before the first record), so all N records flow as fast as both sides can.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from benchmarks.common import Figure, log, median
from benchmarks.simproc import sim_process, specs_from

SINCE = "1970-01-01T00:00:00Z"
"""Before every record: the server streams its whole history."""


async def _logview(info: dict[str, Any], n: int) -> tuple[float, int]:
    from logview.model import LogEvent
    from logview.providers import provider_class
    from logview.store import LogStore
    from logview.streaming import Streamer

    provider_class("runpod")  # import it now: module loading is start-up, not ingest

    specs = specs_from(info, ("runpod",), runpod={"since": SINCE})
    store = LogStore(max_lines=n + 10_000)
    streamer = Streamer(specs)
    start = time.perf_counter()
    async with contextlib.aclosing(streamer.batches()) as batches:
        async for batch in batches:
            store.extend([x for x in batch if isinstance(x, LogEvent)])
            if len(store) >= n:
                break
    elapsed = time.perf_counter() - start
    await streamer.close()
    return elapsed, len(store)


async def _baseline(info: dict[str, Any], n: int) -> tuple[float, int]:
    spec = specs_from(info, ("runpod",))[0]
    url = f"{spec.url_root}/v2/serverless/{spec.endpoint_id}/workers/{spec.worker_id}/logs"
    headers = {"Authorization": f"Bearer {info['env']['LOGVIEW_DEMO_RUNPOD_KEY']}"}
    count = 0
    loads = json.loads
    start = time.perf_counter()
    async with (
        httpx.AsyncClient(timeout=60) as client,
        aconnect_sse(client, "GET", url, params={"since": SINCE}, headers=headers) as source,
    ):
        async for sse in source.aiter_sse():
            if sse.data:
                loads(sse.data)
                count += 1
                if count >= n:
                    break
    return time.perf_counter() - start, count


def _frame_bytes(info: dict[str, Any], n: int) -> float:
    """Mean wire size of one record (a sample), for the figure's note."""
    spec = specs_from(info, ("runpod",))[0]
    url = f"{spec.url_root}/v2/serverless/{spec.endpoint_id}/workers/{spec.worker_id}/logs"
    headers = {"Authorization": f"Bearer {info['env']['LOGVIEW_DEMO_RUNPOD_KEY']}"}
    with httpx.stream("GET", url, params={"since": SINCE}, headers=headers, timeout=60) as r:
        body = b""
        for chunk in r.iter_bytes():
            body += chunk
            if body.count(b"\n\n") > min(n, 5000) + 1:
                break
    frames = body.split(b"\n\n")[1:-1]  # the first is `retry:`, the last is cut
    return sum(len(f) + 2 for f in frames) / max(1, len(frames))


def run(quick: bool) -> list[Figure]:
    n = 30_000 if quick else 200_000
    reps = 1 if quick else 3
    ours: list[float] = []
    base: list[float] = []
    with sim_process("backlog", "--n", str(n)) as info:
        size = _frame_bytes(info, n)
        for rep in range(reps):
            secs, got = asyncio.run(asyncio.wait_for(_baseline(info, n), 300))
            base.append(got / secs)
            log(f"ingest_sse rep {rep + 1}/{reps}: httpx-sse {got / secs:,.0f} ev/s")
            secs, got = asyncio.run(asyncio.wait_for(_logview(info, n), 300))
            ours.append(got / secs)
            log(f"ingest_sse rep {rep + 1}/{reps}: logview {got / secs:,.0f} ev/s")
    return [
        Figure(
            "ingest_sse",
            f"RunPod SSE -> store, {n:,} events",
            median(ours),
            "ev/s",
            median(base),
            "httpx-sse + json.loads, same stream",
            better="higher",
            note=f"{size:.0f} B/frame on the wire; median of {reps}",
            extra={"logview": ours, "baseline": base, "frame_bytes": size},
        )
    ]
