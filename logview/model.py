"""The one event model every source is turned into.

`LogEvent` is a log record, `SourceStatus` a change in a source's (or pod's)
state. Both are msgspec structs: created per line on the hot path, they are
built in C (a third of a slotted dataclass's cost), carry no validation (the
wire payloads are validated where they are decoded), and are not tracked by
the garbage collector (`gc=False`: they never hold a cycle), so a flood of
events, each alive for a batch, adds nothing to the collector's passes.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from msgspec import Struct, field


class Level(enum.IntEnum):
    """Severity, ordered so that `level >= Level.WARN` means "warn and above"."""

    TRACE = 5
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50


class State(enum.StrEnum):
    """What a source (or one of its pods) is doing."""

    CONNECTING = "connecting"
    LIVE = "live"
    BACKFILLING = "backfilling"
    RECONNECTING = "reconnecting"
    GAP = "gap"
    ENDED = "ended"
    FAILED = "failed"
    # Pod-level states (GoldRush pods, fal workers, ...): `pod` is set.
    POD_NEW = "pod-new"
    POD_WAITING = "pod-waiting"
    POD_GONE = "pod-gone"
    # Informational: pipeline status, a provider-side error event, counters.
    INFO = "info"


def utcnow() -> datetime:
    return datetime.now(UTC)


class LogEvent(Struct, gc=False):
    """One log record, whatever its origin."""

    source: str
    provider: str
    message: str
    ts: datetime
    level: Level | None = None
    pod: str | None = None
    stream: str | None = None
    seq: int | str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    received: datetime = field(default_factory=utcnow)


class SourceStatus(Struct, gc=False):
    """A state change of a source, or of one pod of it when `pod` is set.

    `message` is a complete sentence meant for a person ("wrong API key: set
    RUNPOD_API_KEY to a valid key"); the other fields let a UI draw it richer.
    """

    source: str
    state: State
    message: str = ""
    pod: str | None = None
    attempt: int | None = None
    delay: float | None = None
    gap_from: datetime | None = None
    gap_to: datetime | None = None
    ts: datetime = field(default_factory=utcnow)


Item = LogEvent | SourceStatus
"""What a provider yields and the streamer forwards."""
