"""`logview tail`: the headless consumer of the stream, for pipes and scripts.

Log events go to stdout, one per line, flushed per batch; status changes go
to stderr. The two formats are a public interface (see README "tail"):

- jsonl: one object per event with exactly the keys in JSONL_KEYS.
- text:  `TS LEVEL SOURCE[/POD] MESSAGE`; continuation lines of a multi-line
  message are indented by four spaces. Colour only on a terminal, never
  with NO_COLOR set.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from logview.model import Item, LogEvent, SourceStatus, State
from logview.streaming import Streamer
from logview.text import format_ts, sanitize, strip_sgr

JSONL_KEYS = ("source", "provider", "pod", "stream", "level", "ts", "seq", "message", "fields")

_LEVEL_SGR = {"TRACE": "2", "DEBUG": "36", "INFO": "32", "WARN": "33", "ERROR": "31", "FATAL": "1;41"}
_SOURCE_SGR = ("34", "35", "36", "32", "33", "94", "95", "96")


def format_jsonl(ev: LogEvent) -> str:
    return json.dumps(
        {
            "source": ev.source,
            "provider": ev.provider,
            "pod": ev.pod,
            "stream": ev.stream,
            "level": ev.level.name if ev.level is not None else None,
            "ts": format_ts(ev.ts),
            "seq": ev.seq,
            "message": ev.message,
            "fields": ev.fields,
        },
        ensure_ascii=False,
    )


class TextFormatter:
    """The `text` format; colours sources consistently, like stern."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self._src_colors: dict[str, str] = {}

    def __call__(self, ev: LogEvent) -> str:
        ts = format_ts(ev.ts)
        level = ev.level.name if ev.level is not None else "-"
        origin = f"{ev.source}/{ev.pod}" if ev.pod else ev.source
        msg = ev.message.replace("\n", "\n    ")
        if not self.color:
            return f"{ts} {level:<5} {origin} {strip_sgr(msg)}"
        sc = self._src_colors.setdefault(ev.source, _SOURCE_SGR[len(self._src_colors) % len(_SOURCE_SGR)])
        lc = _LEVEL_SGR.get(level, "0")
        return f"\x1b[2m{ts}\x1b[0m \x1b[{lc}m{level:<5}\x1b[0m \x1b[{sc}m{origin}\x1b[0m {msg}\x1b[0m"


def format_status(st: SourceStatus) -> str:
    where = f"{st.source}/{st.pod}" if st.pod else st.source
    text = sanitize(st.message).replace("\n", " ")
    return f"logview: {where}: {st.state}: {text}" if text else f"logview: {where}: {st.state}"


def use_color(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


async def run_tail(specs: Sequence[Any], fmt: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Stream every source to `out`; returns the exit code.

    0 when every source ended (or on SIGINT/SIGTERM after flushing), 1 when
    any source failed.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    formatter = format_jsonl if fmt == "jsonl" else TextFormatter(use_color(out))
    streamer = Streamer(specs)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    failed: set[str] = set()

    def emit(batch: Sequence[Item]) -> None:
        lines = []
        for item in batch:
            if isinstance(item, LogEvent):
                lines.append(formatter(item))
            else:
                if item.state is State.FAILED:
                    failed.add(item.source)
                elif item.state is State.LIVE:
                    failed.discard(item.source)
                if item.state is not State.CONNECTING:
                    err.write(format_status(item) + "\n")
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()
        err.flush()

    batches = streamer.batches()
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while True:
            nxt = asyncio.ensure_future(anext(batches))
            done, _ = await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                # let the cancelled step finish before aclose(): closing a generator
                # that is still running in another task raises RuntimeError
                nxt.cancel()
                await asyncio.gather(nxt, return_exceptions=True)
                emit(streamer.drain())  # received, not yet batched: flushed, not dropped
                break
            try:
                batch = nxt.result()
            except StopAsyncIteration:
                break
            emit(batch)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    finally:
        stopper.cancel()
        await batches.aclose()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
    return 1 if failed else 0


def _quiet_stdout() -> None:
    """After a closed pipe (`| head`), stop Python complaining at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
