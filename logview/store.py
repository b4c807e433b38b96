"""The LogStore: a bounded, columnar log of every event and marker.

A million `LogEvent` objects would cost ~500 MB; here an event costs its
message string plus ~25 bytes of columns. A coloured message is kept once:
its plain text (what filters search) and, beside it, where its colour codes
go, as a short string that is shared between rows laid out alike. Rows have stable, ever-growing ids;
the store never holds more than `max_lines` rows: once it would, the oldest
are evicted a chunk (1/50 of it) at a time, so eviction is rare and cheap,
and the count of evicted rows is kept so the UI can say so.

Markers (reconnects, gaps, a source ending) are rows too, of kind MARKER, so
they sit in the log exactly where they happened.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, overload

from logview.model import Level, LogEvent, SourceStatus, State

LOG = 0
MARKER = 1

_EMPTY: dict[str, str] = {}
_NONE = object()
"""No run yet (None is a real pod / stream: "none")."""
_LEVELS = {lv.value: lv for lv in Level}
_SGR_SPLIT = re.compile(r"(\x1b\[[0-9;:]*m)")
_SGR_AT = re.compile(r"(\d+)(\x1b\[[0-9;:]*m)")
_LAYOUTS_KEPT = 50_000
"""Distinct colour layouts shared between rows; past that each row has its own."""


def split_colours(message: str) -> tuple[str, str | None]:
    """A message as (plain text, colour layout or None), the inverse of `paint`.

    The layout is each SGR sequence preceded by its offset in the plain
    text: "7\x1b[31m10\x1b[0m" for "ERROR: \x1b[31mbad\x1b[0m". Only complete
    SGR sequences are moved out (log text is sanitised: no other escapes).
    """
    if "\x1b" not in message:
        return message, None
    parts = _SGR_SPLIT.split(message)
    if len(parts) == 1:
        return message, None
    plain: list[str] = []
    layout: list[str] = []
    at = 0
    for k, part in enumerate(parts):
        if k % 2:
            layout.append(f"{at}{part}")
        else:
            plain.append(part)
            at += len(part)
    return "".join(plain), "".join(layout)


def paint(plain: str, layout: str | None) -> str:
    """Put a message's colour codes back where `split_colours` found them."""
    if layout is None:
        return plain
    out: list[str] = []
    at = 0
    for m in _SGR_AT.finditer(layout):
        to = int(m.group(1))
        out.append(plain[at:to])
        out.append(m.group(2))
        at = to
    out.append(plain[at:])
    return "".join(out)


class Messages(Sequence[str]):
    """`store.message`: each row's message with its colours, rebuilt on access.

    For the rows being drawn, copied or exported; a loop over many rows
    wants `store.plain` (a list, and what filters and widths use).
    """

    __slots__ = ("_store",)

    def __init__(self, store: LogStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return len(self._store.plain)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        s = self._store
        if isinstance(i, slice):
            return list(map(paint, s.plain[i], s.colours[i]))
        return paint(s.plain[i], s.colours[i])

    def __iter__(self) -> Iterator[str]:
        return map(paint, self._store.plain, self._store.colours)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Messages):
            other = list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Messages({len(self)} rows)"


class LogStore:
    """Columns indexed by `row - self.first`; row ids never change.

    Interned tables: `sources` (index → name), `pods` and `streams`
    (index 0 is "none"). `level` is the Level value, 0 for none.
    """

    def __init__(self, max_lines: int = 1_000_000) -> None:
        self.max_lines = max_lines
        self._chunk = max(1, max_lines // 50)
        self.first = 0
        """Id of the oldest row still kept."""
        self.evicted = 0
        self.readers = 0
        """Threads reading the columns right now (a filter in a worker); while
        any is, eviction waits, so no row shifts under them."""
        self.ts = array("d")
        self.level = bytearray()
        self.kind = bytearray()
        self.source = array("H")
        self.pod = array("I")
        self.stream = bytearray()
        self.plain: list[str] = []
        """Each message without its colour codes: what filters search."""
        self.colours: list[str | None] = []
        """Where a row's colour codes go (`split_colours`), None for most rows."""
        self._layouts: dict[str, str] = {}
        self.seq: list[int | str | None] = []
        self.fields: list[dict[str, Any] | None] = []
        """Each event's fields, None for most. Two columns, not a (seq, fields)
        tuple per row: a tuple holding a dict stays an object the garbage
        collector walks on every full pass (~50 ms per 100k rows), and a flood
        into a big store would stall the app for that now and then."""
        self.message = Messages(self)
        self.sources: list[str] = []
        self.providers: list[str] = []
        self.pods: list[str | None] = [None]
        self.streams: list[str | None] = [None]
        self._source_ix: dict[str, int] = {}
        self._pod_ix: dict[str | None, int] = {None: 0}
        self._stream_ix: dict[str | None, int] = {None: 0}
        self.counts: dict[str, int] = {}
        """Events received per source (including evicted ones)."""
        self.pod_counts: dict[tuple[str, str], int] = {}

    # --- sizes ------------------------------------------------------------

    @property
    def end(self) -> int:
        """Id the next row will get."""
        return self.first + len(self.plain)

    def __len__(self) -> int:
        return len(self.plain)

    # --- interning --------------------------------------------------------

    def source_index(self, name: str, provider: str = "") -> int:
        ix = self._source_ix.get(name)
        if ix is None:
            ix = self._source_ix[name] = len(self.sources)
            self.sources.append(name)
            self.providers.append(provider)
        elif provider and not self.providers[ix]:
            self.providers[ix] = provider  # first seen in a marker, which has no provider
        return ix

    def pod_index(self, pod: str | None) -> int:
        ix = self._pod_ix.get(pod)
        if ix is None:
            ix = self._pod_ix[pod] = len(self.pods)
            self.pods.append(pod)
        return ix

    def stream_index(self, stream: str | None) -> int:
        ix = self._stream_ix.get(stream)
        if ix is None:
            ix = self._stream_ix[stream] = len(self.streams)
            self.streams.append(stream)
        return ix

    # --- writing ----------------------------------------------------------

    def extend(self, events: Iterable[LogEvent]) -> range:
        """Append events; returns the ids they got that are still kept.

        Consecutive events mostly share their source, pod and stream (a
        provider hands over a chunk at a time), so the interned indexes and
        the counts are looked up once per run of equal ones, not per event.
        """
        start = self.end
        ts_a, lv_a, src_a, pod_a, st_a = self.ts, self.level, self.source, self.pod, self.stream
        plain_a, col_a, seq_a, f_a = self.plain, self.colours, self.seq, self.fields
        counts, pod_counts = self.counts, self.pod_counts
        n0 = len(f_a)
        src: str | None = None
        src_ix = 0
        pod: str | object | None = _NONE
        pod_ix = 0
        stream: str | object | None = _NONE
        stream_ix = 0
        run = 0  # events in the current run of one (source, pod)
        try:
            for ev in events:
                if ev.source is not src or ev.pod != pod:
                    if run:
                        _count(counts, pod_counts, src, pod, run)
                        run = 0
                    if ev.source is not src:
                        src = ev.source
                        src_ix = self.source_index(src, ev.provider)
                    if ev.pod != pod:
                        pod = ev.pod
                        pod_ix = self.pod_index(ev.pod)
                if ev.stream != stream:
                    stream = ev.stream
                    stream_ix = self.stream_index(ev.stream)
                ts_a.append(ev.ts.timestamp())
                lv_a.append(ev.level or 0)  # a Level is a non-zero int
                src_a.append(src_ix)
                pod_a.append(pod_ix)
                st_a.append(stream_ix)
                msg = ev.message
                if "\x1b" in msg:
                    msg, layout = self._split(msg)
                    col_a.append(layout)
                else:
                    col_a.append(None)
                plain_a.append(msg)
                seq_a.append(ev.seq)
                f_a.append(ev.fields or None)
                run += 1
        finally:  # the columns stay aligned even if an event is broken
            if run:
                _count(counts, pod_counts, src, pod, run)
            added = len(f_a) - n0
            if added:
                self.kind.extend(bytes(added))  # LOG is 0
            del ts_a[n0 + added :], lv_a[n0 + added :], src_a[n0 + added :], pod_a[n0 + added :], st_a[n0 + added :]
            del plain_a[n0 + added :], col_a[n0 + added :], seq_a[n0 + added :]
        self._evict()
        return range(max(start, self.first), self.end)

    def add_marker(self, status: SourceStatus, text: str) -> int:
        """Put a marker row (reconnect, gap, end) into the log at this point."""
        row = self.end
        self.ts.append(status.ts.timestamp())
        self.level.append(0)
        self.kind.append(MARKER)
        self.source.append(self.source_index(status.source))
        self.pod.append(self.pod_index(status.pod))
        self.stream.append(0)
        plain, layout = self._split(text)
        self.plain.append(plain)
        self.colours.append(layout)
        self.seq.append(None)
        self.fields.append({"state": str(status.state)})
        self._evict()
        return row

    def _split(self, message: str) -> tuple[str, str | None]:
        plain, layout = split_colours(message)
        if layout is not None:
            shared = self._layouts.get(layout)
            if shared is not None:
                layout = shared
            elif len(self._layouts) < _LAYOUTS_KEPT:
                self._layouts[layout] = layout
        return plain, layout

    def _evict(self) -> None:
        over = len(self.plain) - self.max_lines
        if over <= 0 or self.readers:
            return
        n = min(len(self.plain), over + self._chunk)
        for col in self._columns():
            del col[:n]
        self.first += n
        self.evicted += n

    def clear(self) -> None:
        n = len(self.plain)
        for col in self._columns():
            del col[:]
        self.first += n

    def _columns(self) -> tuple[Any, ...]:
        return (
            self.ts,
            self.level,
            self.kind,
            self.source,
            self.pod,
            self.stream,
            self.plain,
            self.colours,
            self.seq,
            self.fields,
        )

    # --- reading ----------------------------------------------------------

    def __contains__(self, row: int) -> bool:
        return self.first <= row < self.end

    def event(self, row: int) -> LogEvent:
        """Rebuild the event at a row id (for details, copy, export)."""
        i = row - self.first
        lv = self.level[i]
        src = self.source[i]
        ts = datetime.fromtimestamp(self.ts[i], UTC)
        seq = self.seq[i]
        fields = self.fields[i] or _EMPTY
        return LogEvent(
            source=self.sources[src],
            provider=self.providers[src],
            message=self.message[i],
            ts=ts,
            level=_LEVELS.get(lv),
            pod=self.pods[self.pod[i]],
            stream=self.streams[self.stream[i]],
            seq=seq,
            fields=dict(fields),
            received=ts,
        )

    def is_marker(self, row: int) -> bool:
        return self.kind[row - self.first] == MARKER

    def rows(self) -> range:
        return range(self.first, self.end)

    def source_rows(self, names: Sequence[str]) -> list[int]:
        """Ids of the rows (events and markers) of the given sources."""
        wanted = {self._source_ix[n] for n in names if n in self._source_ix}
        base = self.first
        return [base + i for i, s in enumerate(self.source) if s in wanted]


def _count(
    counts: dict[str, int], pod_counts: dict[tuple[str, str], int], src: str | None, pod: object, n: int
) -> None:
    assert src is not None
    counts[src] = counts.get(src, 0) + n
    if isinstance(pod, str):
        key = (src, pod)
        pod_counts[key] = pod_counts.get(key, 0) + n


def marker_text(status: SourceStatus) -> str | None:
    """The inline marker for a status, or None when it deserves no row."""
    if status.state is State.GAP:
        return f"gap: {status.message}" if status.message else "gap: lines may be missing here"
    if status.state in (State.ENDED, State.FAILED, State.POD_GONE, State.POD_NEW):
        return status.message or str(status.state)
    if status.state is State.LIVE and status.attempt:
        return status.message or "reconnected"
    return None
