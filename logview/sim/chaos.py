"""Seeded faults for the simulator: what real networks and servers do to a stream.

A `ChaosSpec` says how often each fault happens; a `Chaos` (one per provider
simulation) draws them. Every connection gets its own RNG seeded from
(seed, provider, connection number), so a run with the same spec and the
same connection order injects the same faults at the same frames.

Spec grammar (what `logview demo-server --chaos` takes): comma-separated
`name=P[:ARG]` items, P a probability in [0, 1]. A frame is one SSE event,
or for plain text (Feldera) and JSON answers (GoldRush) one write::

    cut=P            per frame: drop the connection (after the frame, halfway
                     through it), or end the response early but cleanly
    stall=P[:SECS]   per frame: send nothing for SECS seconds (default 3), without closing
    status=P[:CODES] per connection: answer one of CODES (`|`-separated, default
                     429|500|502|503) instead of a stream; 429 carries Retry-After
    malformed=P      per frame: SSE gets an extra frame first that is truncated
                     JSON, holds a non-UTF-8 byte, or is not JSON at all; a JSON
                     answer is truncated (with a 200); plain text is left alone
    drip=P           per frame: send it a few bytes at a time
    noise=P          per frame, SSE only: first a heartbeat comment, a `retry:`,
                     an id-only frame with an odd id, or the frame itself with
                     CRLF or CR line endings
    seed=N           the RNG seed (default 0)

Example: `cut=0.02,stall=0.005:3,status=0.01:429|500|503,malformed=0.005,drip=0.01,seed=7`.

Faults never change what a record is: every record the server meant to send
is still there for a client that resumes correctly. Extra frames (malformed,
noise) come in addition to them. Tests can also script faults exactly with
`Chaos.plan`.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from http import HTTPStatus
from typing import Literal

Style = Literal["sse", "lines", "body"]
"""How a body is framed: SSE events (faults per event), text lines or one JSON body
(faults per write: a plain-text replay goes out in large writes, and a fault per
line there would hit every replay)."""

FRAME_FAULTS = ("cut", "stall", "malformed", "drip", "noise")
"""Faults drawn per frame, in the order their probabilities are stacked."""
DEFAULT_STATUSES = (429, 500, 502, 503)
RETRY_AFTER = "1"

_PLAIN_FAULTS: dict[str, tuple[str, ...]] = {
    "lines": ("cut", "stall", "drip"),
    "body": ("cut", "stall", "malformed", "drip"),
}
"""Where text lines or JSON cannot be made noisy (any bytes are a line), those faults are not drawn."""
_GARBAGE = (
    b'data: {"line": "truncated mid-rec\n\n',
    b"data: \xff\xfe not UTF-8 \xc3\x28\n\n",
    b"data: <html>502 Bad Gateway</html>\n\n",
)
_NOISE = (b": heartbeat\n\n", b"retry: 2500\n\n", b"id: \xc3\xa9t\xc3\xa9 odd id\n\n")


@dataclass(frozen=True, slots=True)
class ChaosSpec:
    """How often each fault happens (see the module docstring for the grammar)."""

    cut: float = 0.0
    stall: float = 0.0
    stall_seconds: float = 3.0
    status: float = 0.0
    statuses: tuple[int, ...] = DEFAULT_STATUSES
    malformed: float = 0.0
    drip: float = 0.0
    noise: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> ChaosSpec:
        """Read `name=P[:ARG],...`; raises ValueError saying what is wrong."""
        values: dict[str, object] = {}
        known = {f.name for f in fields(cls)} - {"stall_seconds", "statuses"}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, eq, value = item.partition("=")
            name = name.strip()
            if not eq or name not in known:
                raise ValueError(
                    f"unknown chaos item {item!r}: expected one of {', '.join(sorted(known))} as name=value"
                )
            head, _, arg = value.partition(":")
            try:
                if name == "seed":
                    values["seed"] = int(value)
                    continue
                p = float(head)
                if not 0.0 <= p <= 1.0:
                    raise ValueError
                values[name] = p
                if arg and name == "stall":
                    values["stall_seconds"] = float(arg)
                elif arg and name == "status":
                    values["statuses"] = tuple(int(c) for c in arg.split("|"))
                elif arg:
                    raise ValueError
            except ValueError:
                raise ValueError(f"bad chaos value in {item!r}") from None
        spec = cls(**values)  # type: ignore[arg-type]
        if spec.stall_seconds < 0 or any(not 400 <= c <= 599 for c in spec.statuses):
            raise ValueError("chaos: stall seconds must be >= 0 and statuses HTTP errors (400-599)")
        if sum(getattr(spec, k) for k in FRAME_FAULTS) > 1.0:
            raise ValueError("chaos: the per-frame probabilities add up to more than 1")
        return spec

    def __str__(self) -> str:
        codes = "|".join(map(str, self.statuses))
        return (
            f"cut={self.cut:g},stall={self.stall:g}:{self.stall_seconds:g},status={self.status:g}:{codes},"
            f"malformed={self.malformed:g},drip={self.drip:g},noise={self.noise:g},seed={self.seed}"
        )


class ChaosCut(Exception):
    """Raised inside a response body: the server drops the connection."""


class Chaos:
    """Draws faults for one provider simulation's connections and counts them.

    `injected` counts faults by kind; `plan` lets a test script the next
    connections exactly: each new connection takes one `(frame, kind)` (kind
    one of FRAME_FAULTS, or `status:<code>`) and then gets no random faults.
    """

    def __init__(self, spec: ChaosSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.connections = 0
        self.injected: Counter[str] = Counter()
        self.plan: deque[tuple[int, str]] = deque()

    def connection(self) -> ChaosConnection:
        n = self.connections
        self.connections += 1
        scripted = self.plan.popleft() if self.plan else None
        return ChaosConnection(self, random.Random(f"{self.spec.seed}:{self.name}:{n}"), scripted)

    @property
    def total(self) -> int:
        return sum(self.injected.values())


class ChaosConnection:
    """The faults of one connection: first whether to refuse it, then per frame."""

    def __init__(self, chaos: Chaos, rng: random.Random, scripted: tuple[int, str] | None) -> None:
        self.chaos = chaos
        self.spec = chaos.spec
        self.rng = rng
        self.scripted = scripted
        self.frame = 0

    def refusal(self) -> int | None:
        """An HTTP status to answer instead of the stream, or None."""
        code: int | None = None
        if self.scripted is not None:
            kind = self.scripted[1]
            if kind.startswith("status:"):
                code = int(kind.partition(":")[2])
        elif self.spec.status and self.rng.random() < self.spec.status:
            code = self.rng.choice(self.spec.statuses)
        if code is not None:
            self.chaos.injected[f"status {code}"] += 1
        return code

    def _draw(self, kinds: tuple[str, ...]) -> str | None:
        n, self.frame = self.frame, self.frame + 1
        if self.scripted is not None:
            return self.scripted[1] if n == self.scripted[0] and self.scripted[1] in FRAME_FAULTS else None
        r = self.rng.random()
        for kind in kinds:
            p: float = getattr(self.spec, kind)
            if r < p:
                return kind
            r -= p
        return None

    async def wrap(self, body: AsyncIterator[bytes | str], style: Style, farewell: bytes = b"") -> AsyncIterator[bytes]:
        """`body` with faults: frames pass through, batched, until one draws a fault.

        A cut raises inside the response (the server drops the connection);
        a clean cut ends it early after `farewell` (Chronoverse: an `event:
        error` after the 200).
        """
        sep = b"\n\n" if style == "sse" else b""
        kinds = FRAME_FAULTS if style == "sse" else _PLAIN_FAULTS[style]
        pending = b""
        async for chunk in body:
            pending += chunk.encode() if isinstance(chunk, str) else chunk
            if sep:
                *whole, pending = pending.split(sep)
                frames = [f + sep for f in whole]
            else:
                frames, pending = [pending], b""
            out: list[bytes] = []
            for frame in frames:
                kind = self._draw(kinds)
                if kind is None:
                    out.append(frame)
                    continue
                self.chaos.injected[kind] += 1
                if kind == "cut":
                    how = self.rng.choice(("after", "mid", "clean"))
                    if how != "clean":
                        out.append(frame if how == "after" else frame[: max(1, len(frame) // 2)])
                    yield b"".join(out) + (farewell if how == "clean" else b"")
                    if how == "clean":
                        return
                    raise ChaosCut(f"chaos cut ({how}) on {self.chaos.name}")
                if out:
                    yield b"".join(out)
                    out = []
                async for piece in self._fault(kind, frame, style):
                    yield piece
            if out:
                yield b"".join(out)
        if pending:
            yield pending

    async def _fault(self, kind: str, frame: bytes, style: Style) -> AsyncIterator[bytes]:
        rng = self.rng
        if kind == "stall":
            await asyncio.sleep(self.spec.stall_seconds)
            yield frame
        elif kind == "drip":
            i = 0
            while i < len(frame):
                step = max(rng.randint(1, 7), len(frame) // 64)
                yield frame[i : i + step]
                i += step
                await asyncio.sleep(0.001)
        elif kind == "malformed" and style == "sse":
            yield rng.choice(_GARBAGE) + frame
        elif kind == "malformed":
            yield frame[: len(frame) // 2]  # truncated JSON with a 200
        else:
            yield _noisy(frame, rng)


def phrase(code: int) -> str:
    """The reason phrase of an injected status, for the sims' error bodies."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def _noisy(frame: bytes, rng: random.Random) -> bytes:
    pick = rng.randrange(len(_NOISE) + 2)
    if pick < len(_NOISE):
        return _NOISE[pick] + frame
    ending = b"\r\n" if pick == len(_NOISE) else b"\r"
    return frame.replace(b"\n", ending)


def chaotic(
    chaos: Chaos | None, body: AsyncIterator[bytes | str], style: Style, farewell: bytes = b""
) -> tuple[int | None, AsyncIterator[bytes | str]]:
    """The hook a simulation calls per request: (status to refuse with, body to send).

    Without chaos it is the body unchanged; with a status the body is unused.
    """
    if chaos is None:
        return None, body
    conn = chaos.connection()
    return conn.refusal(), conn.wrap(body, style, farewell)


__all__ = [
    "DEFAULT_STATUSES",
    "FRAME_FAULTS",
    "RETRY_AFTER",
    "Chaos",
    "ChaosConnection",
    "ChaosCut",
    "ChaosSpec",
    "chaotic",
    "phrase",
]
