"""A big, realistic, reproducible log: five sources, pods, levels, ANSI colours, tracebacks.

Bodies come from the simulator's `ContentGenerator` (the demo's content);
each row adds a logger name and a trace id, as structured loggers do, so
messages average ~100 bytes and every one is a distinct string (a store
full of shared strings would flatter the memory figures).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from logview.model import Level, LogEvent
from logview.sim.content import ContentGenerator
from logview.store import LogStore
from logview.text import parse_level


class SourceDef(NamedTuple):
    name: str
    provider: str
    flavor: str
    weight: int
    pods: tuple[str | None, ...]
    streams: tuple[str | None, ...]
    loggers: tuple[str, ...]


SOURCES = (
    SourceDef(
        "sdxl-worker",
        "runpod",
        "worker",
        30,
        ("worker_a1b2c3", "worker_d4e5f6"),
        ("container", "system"),
        ("handler", "diffusers.pipeline", "runpod.serverless", "torch.cuda"),
    ),
    SourceDef(
        "flux-api",
        "fal",
        "fal",
        25,
        ("runner-7f9c2", "runner-a21b8", "runner-1e0d4"),
        ("stdout", "stderr"),
        ("fal.app", "uvicorn.access", "fal.toolkit", "httpx"),
    ),
    SourceDef(
        "fraud-detection",
        "feldera",
        "pipeline",
        20,
        (None,),
        (None,),
        ("dbsp_adapters::controller", "dbsp::circuit::runtime", "dbsp::storage::backend"),
    ),
    SourceDef(
        "nightly-train",
        "chronoverse",
        "job",
        15,
        (None,),
        ("stdout", "stderr"),
        ("trainer", "dataloader", "checkpoint"),
    ),
    SourceDef(
        "pipe_7f3a9c2e41",
        "goldrush",
        "pipeline",
        10,
        ("pipeline-6d9f-x2k4p", "pipeline-6d9f-q8r7z"),
        (None,),
        ("block-reader", "decoder", "sink.postgres"),
    ),
)
POOL = 20_000
"""Distinct bodies per source; rows pick from them (and add a unique trace id)."""
UNLEVELLED = 0.03
"""Share of rows whose level is unknown (lines no detector would classify)."""


class Row(NamedTuple):
    ts: float
    level: Level | None
    source: SourceDef
    pod: str | None
    stream: str | None
    message: str


def rows(n: int, seed: int = 11) -> Iterator[Row]:
    """n rows, 1 ms apart, ending now; the same n and seed give the same rows."""
    rng = random.Random(seed)
    pools = []
    for k, src in enumerate(SOURCES):
        gen = ContentGenerator(seed * 31 + k, src.flavor)
        pools.append([(parse_level(g.level), g.text) for g in map(gen.line, range(POOL))])
    t0 = time.time() - n / 1000
    rand, randrange, bits = rng.random, rng.randrange, rng.getrandbits
    for i, k in enumerate(_picks(rng, n)):
        src = SOURCES[k]
        level, body = pools[k][randrange(POOL)]
        if rand() < UNLEVELLED:
            level = None
        logger = src.loggers[randrange(len(src.loggers))]
        pod = src.pods[randrange(len(src.pods))]
        stream = src.streams[randrange(len(src.streams))]
        yield Row(t0 + i / 1000, level, src, pod, stream, f"{logger}: {body} trace_id={bits(64):016x}")


def _picks(rng: random.Random, n: int) -> Iterator[int]:
    """Which source each row comes from, by weight, drawn a block at a time
    (a list of a million picks would sit in every memory figure)."""
    weights = [s.weight for s in SOURCES]
    for start in range(0, n, 8192):
        yield from rng.choices(range(len(SOURCES)), weights=weights, k=min(8192, n - start))


def events(n: int, seed: int = 11) -> Iterator[LogEvent]:
    for r in rows(n, seed):
        ts = datetime.fromtimestamp(r.ts, UTC)
        yield LogEvent(r.source.name, r.source.provider, r.message, ts, r.level, r.pod, r.stream, received=ts)


def build_store(n: int, seed: int = 11) -> LogStore:
    """A store holding n rows, filled the way the app fills it (batches into `extend`)."""
    store = LogStore(max_lines=max(n, 1000))
    batch: list[LogEvent] = []
    for ev in events(n, seed):
        batch.append(ev)
        if len(batch) == 1000:
            store.extend(batch)
            batch = []
    store.extend(batch)
    return store


def write_log_file(store: LogStore, path: Path) -> int:
    """The store as a classic log file, one row per line: `ts LEVEL source pod message`.

    Multi-line messages are joined with spaces so that grep's line count and
    the store's row count mean the same thing. Returns the bytes written.
    """
    names = {lv.value: lv.name for lv in Level}
    with path.open("w", encoding="utf-8") as fh:
        for i, msg in enumerate(store.message):
            ts = datetime.fromtimestamp(store.ts[i], UTC).isoformat(timespec="milliseconds")
            level = names.get(store.level[i], "-")
            pod = store.pods[store.pod[i]] or "-"
            fh.write(f"{ts} {level} {store.sources[store.source[i]]} {pod} {msg.replace(chr(10), ' ')}\n")
    return path.stat().st_size
