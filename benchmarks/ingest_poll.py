"""Ingest by polling: GoldRush's per-pod tails into the LogStore.

A live simulator (its own process) appends records at a steady rate; every
answer of `GET .../logs/` is each of its two pods' last K lines, so
consecutive polls overlap. logview's path is `Streamer` running
`GoldRushProvider` with the shortest poll interval: the envelope decoded
and checked, each pod's overlap with the tail it saw before (only new lines
go on), lines parsed, into `LogStore.extend`. The baseline polls the same
endpoint in a loop with `httpx` and does `json.loads` and `splitlines` on
each pod's tail: the least a poller can do. Both are measured as tail lines
handled per second (polls x lines per answer); the new lines delivered are
in the note. The simulator builds every answer too, the same for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx

from benchmarks.common import Figure, log, median
from benchmarks.simproc import sim_process, specs_from

TAIL = 1000
"""Lines in each pod's tail, as `kubectl logs --tail`."""
RATE = 500.0
"""Records per second the simulator appends (one line or a few each, over two pods)."""


async def _logview(info: dict[str, Any], seconds: float) -> tuple[float, int, int, int]:
    """The seconds taken, polls, new lines delivered, and gaps said (a tail that moved on between two polls)."""
    from logview.model import LogEvent, SourceStatus, State
    from logview.providers import goldrush
    from logview.store import LogStore
    from logview.streaming import Streamer

    made: list[Any] = []
    init = goldrush.GoldRushProvider.__init__

    def remember(self: Any, *args: Any) -> None:  # the streamer makes the provider: count its polls
        init(self, *args)
        made.append(self)

    goldrush.GoldRushProvider.__init__ = remember  # type: ignore[method-assign]
    try:
        specs = specs_from(info, ("goldrush",), goldrush={"poll_interval": 0.001})
        store = LogStore(max_lines=10_000_000)
        gaps = 0
        streamer = Streamer(specs)
        start = time.perf_counter()
        async with contextlib.aclosing(streamer.batches(forever=True)) as batches:
            async for batch in batches:
                store.extend([x for x in batch if isinstance(x, LogEvent)])
                gaps += sum(isinstance(x, SourceStatus) and x.state is State.GAP for x in batch)
                if time.perf_counter() - start >= seconds:
                    break
        elapsed = time.perf_counter() - start
        await streamer.close()
    finally:
        goldrush.GoldRushProvider.__init__ = init  # type: ignore[method-assign]
    return elapsed, sum(p.polls for p in made), len(store), gaps


async def _baseline(info: dict[str, Any], seconds: float) -> tuple[float, int, int]:
    """Polls, tail lines read, and the seconds they took."""
    spec = specs_from(info, ("goldrush",))[0]
    url = f"{spec.url_root}/platform/pipeline-api/{spec.pipeline_id}/logs/"
    headers = {"Authorization": f"Bearer {info['env']['LOGVIEW_DEMO_GOLDRUSH_KEY']}"}
    polls = lines = 0
    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60) as client:
        while time.perf_counter() - start < seconds:
            resp = await client.get(url, headers=headers)
            data = json.loads(resp.content)
            for pod in data["data"]["pods"]:
                lines += len(pod["logs"].splitlines())
            polls += 1
    return time.perf_counter() - start, polls, lines


def run(quick: bool) -> list[Figure]:
    seconds = 3.0 if quick else 8.0
    reps = 1 if quick else 3
    ours: list[float] = []
    base: list[float] = []
    new_lines: list[float] = []
    gaps = 0
    per_answer = 2 * TAIL
    with sim_process("live", "--rate", str(RATE), "--backlog", str(4 * TAIL), "--goldrush-tail", str(TAIL)) as info:
        for rep in range(reps):
            secs, polls, lines = asyncio.run(asyncio.wait_for(_baseline(info, seconds), 120))
            per_answer = round(lines / max(1, polls))
            base.append(polls * per_answer / secs)
            log(f"ingest_poll rep {rep + 1}/{reps}: httpx + json.loads {polls / secs:,.1f} polls/s")
            secs, polls, events, gapped = asyncio.run(asyncio.wait_for(_logview(info, seconds), 120))
            gaps += gapped
            ours.append(polls * per_answer / secs)
            new_lines.append(events / secs)
            log(
                f"ingest_poll rep {rep + 1}/{reps}: logview {polls / secs:,.1f} polls/s, {events / secs:,.0f} new lines/s"
            )
    return [
        Figure(
            "ingest_poll",
            f"GoldRush polled tails -> store, {per_answer:,} tail lines an answer",
            median(ours),
            "lines/s",
            median(base),
            "httpx GET + json.loads + splitlines, same endpoint",
            better="higher",
            note=f"tail lines handled (polls x lines an answer, one status request every 5 polls too); "
            f"new lines delivered {median(new_lines):,.0f}/s with {gaps} gaps (0: every line appended); median of {reps}",
            extra={"logview": ours, "baseline": base, "new_lines_per_s": new_lines},
        )
    ]
