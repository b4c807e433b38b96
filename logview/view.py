"""What the log pane shows: which rows, in what order, on how many lines.

Kept apart from the widget so it is tested without a terminal. A `ViewSpec`
says which rows qualify (sources, pod tab, minimum level, filter query); a
`Layout` holds the qualifying row ids merged by timestamp, with how many
screen lines each takes, so the pane can map a screen line to a row in
O(log n) and only ever renders what is visible.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, count, islice, repeat
from operator import contains, floordiv, le, sub

from logview.model import Level
from logview.query import Query
from logview.store import MARKER, LogStore
from logview.text import strip_sgr


@dataclass(frozen=True)
class ViewSpec:
    """Which rows the pane shows."""

    sources: frozenset[str] | None = None
    """None: every source."""
    pod: str | None = None
    """The pod tab; None: all pods."""
    min_level: Level | None = None
    query: Query | None = None
    """The filter (not the search: a search keeps every row)."""

    def select(
        self, store: LogStore, rows: Sequence[int] | range | None = None, should_stop: Callable[[], bool] | None = None
    ) -> list[int] | range:
        """Row ids that qualify, ascending (a range when every row in `rows` does).

        Sources, pod and level are tested column-wise over slices (no Python
        indexing per row); markers follow their own rule — they stay whenever
        their source is shown and they concern the pod (or every pod).
        """
        if rows is None:
            rows = store.rows()
        out: list[int] | range
        if self.sources is None and self.pod is None and self.min_level is None:
            # a range stays a range: the query engine and the layout have faster paths for it
            out = (
                range(max(rows.start, store.first), rows.stop)
                if isinstance(rows, range)
                else [r for r in rows if r >= store.first]
            )
        else:
            out = self._by_columns(store, rows)
        if self.query is not None and not self.query.empty:
            return self.query.filter(store, out, should_stop=should_stop)
        return out

    def since(self, store: LogStore, end: int) -> list[int] | range:
        """`select` over the rows from id `end` to the store's end (the evicted ones skipped)."""
        return self.select(store, range(max(end, store.first), store.end))

    def _by_columns(self, store: LogStore, rows: Sequence[int] | range) -> list[int]:
        first = store.first
        ids: Sequence[int]
        if isinstance(rows, range) and rows.step == 1:
            lo = max(rows.start, first) - first
            hi = max(lo, rows.stop - first)
            ids = range(lo + first, hi + first)
            src: Sequence[int] = store.source[lo:hi]
            pod: Sequence[int] = store.pod[lo:hi]
            lv: Sequence[int] = store.level[lo:hi]
            kind = store.kind[lo:hi]
        else:
            ids = [r for r in rows if r >= first]
            idx = [r - first for r in ids]
            src = [store.source[i] for i in idx]
            pod = [store.pod[i] for i in idx]
            lv = [store.level[i] for i in idx]
            kind = bytearray(store.kind[i] for i in idx)
        keep_src = (
            frozenset(i for i, n in enumerate(store.sources) if n in self.sources) if self.sources is not None else None
        )
        keep_pod = frozenset(i for i, p in enumerate(store.pods) if p == self.pod) if self.pod is not None else None
        # a pod-less marker (a reconnect) concerns every pod of its source: only sources that have this pod
        pod_sources = (
            frozenset(i for i, n in enumerate(store.sources) if (n, self.pod) in store.pod_counts)
            if self.pod is not None
            else None
        )
        conds: list[Iterable[bool]] = []
        if keep_src is not None:
            conds.append(map(keep_src.__contains__, src))
        if keep_pod is not None:
            conds.append(map(keep_pod.__contains__, pod))
        if self.min_level is not None:
            conds.append(map(int(self.min_level).__le__, lv))
        selector = conds[0] if len(conds) == 1 else map(all, zip(*conds, strict=True))
        out = list(compress(ids, selector))
        m = kind.find(MARKER)
        while m >= 0:
            if (keep_src is None or src[m] in keep_src) and (
                keep_pod is None
                or pod[m] in keep_pod
                or (pod[m] == 0 and pod_sources is not None and src[m] in pod_sources)
            ):
                row = ids[m]
                at = bisect_left(out, row)
                if at == len(out) or out[at] != row:
                    out.insert(at, row)
            m = kind.find(MARKER, m + 1)
        return out


STEP = 4096
"""Rows per C-level pass when laying out: between passes a worker thread lets
go of the GIL, so the UI thread never waits for a whole million rows."""


def _indexes(ids: Iterable[int], first: int) -> Iterable[int]:
    """Where row ids sit in the store's columns."""
    return map(sub, ids, repeat(first)) if first else ids


def _ascending(stamps: array[float]) -> bool:
    """Whether the times never go down, checked a slice at a time."""
    for a in range(0, len(stamps), STEP):
        part = stamps[a : a + STEP + 1]
        if not all(map(le, part, islice(part, 1, None))):
            return False
    return True


def _in_time_order(store: LogStore, rows: Sequence[int] | range) -> tuple[Sequence[int], array[float], bool]:
    """The ids of `rows` (ascending) still kept, ordered by timestamp (stable:
    arrival breaks ties), their times, and whether that took a sort.

    Rows mostly arrive in time order already: that is checked in C-level
    passes, and only rows out of order pay for a sort."""
    first, ts = store.first, store.ts
    ids: Sequence[int]
    if isinstance(rows, range) and rows.step == 1:
        lo, hi = max(rows.start, first) - first, max(rows.start, first, rows.stop) - first
        ids = range(lo + first, hi + first)
        stamps = ts[lo:hi]
    else:
        ids = rows[bisect_left(rows, first) :] if rows and rows[0] < first else rows
        stamps = array("d")
        for a in range(0, len(ids), STEP):
            part = ids[a : a + STEP]
            stamps.extend(map(ts.__getitem__, _indexes(part, first)))
    if _ascending(stamps):
        return ids, stamps, False
    order = sorted(range(len(ids)), key=stamps.__getitem__)
    return list(map(ids.__getitem__, order)), array("d", map(stamps.__getitem__, order)), True


def line_count(message: str, width: int | None) -> int:
    """Screen lines a message takes: one per line, more when wrapped at `width`."""
    if width is None:
        return message.count("\n") + 1
    width = max(1, width)
    total = 0
    for part in strip_sgr(message).split("\n"):
        total += max(1, -(-len(part) // width))
    return total


def _measure(store: LogStore, ids: Sequence[int] | range, width: int | None, max_chars: int) -> tuple[list[int], int]:
    """The screen lines beyond the first that each row of `ids` takes, and the
    longest message when not wrapping.

    All in C-level passes but for the rows with line breaks (and markers when
    wrapping), which are few: without wrapping a row takes one line unless it
    has a break; wrapped, ceil(length / width) lines."""
    first, plain = store.first, store.plain
    if isinstance(ids, range):
        texts = plain[ids.start - first : ids.stop - first]
    else:
        texts = list(map(plain.__getitem__, _indexes(ids, first)))
    breaks = compress(count(), map(contains, texts, repeat("\n")))
    if width is None:
        extras = [0] * len(texts)
        for j in breaks:
            extras[j] = texts[j].count("\n", 0, max_chars)
        return extras, min(max(map(len, texts), default=0), max_chars)
    width = max(1, width)
    lengths = list(map(len, texts))
    # (length - 1) // width: 0 for an empty row too
    extras = list(map(floordiv, map(sub, lengths, map(bool, lengths)), repeat(width)))
    for j in compress(count(), map(max_chars.__lt__, lengths)):  # cut when drawn
        extras[j] = (max_chars - 1) // width
    for j in breaks:
        extras[j] = line_count(texts[j][:max_chars], width) - 1
    kinds: bytes | bytearray
    if isinstance(ids, range):
        kinds = store.kind[ids.start - first : ids.stop - first]
    else:
        kinds = bytes(map(store.kind.__getitem__, _indexes(ids, first)))
    m = kinds.find(MARKER)
    while m >= 0:  # a marker is drawn on one line
        extras[m] = 0
        m = kinds.find(MARKER, m + 1)
    return extras, 0


class Layout:
    """Row ids in display order (by timestamp, then arrival) and the screen
    lines they take.

    Rows are one line high but for a few (line breaks, wrapping), so only those
    are kept: `_tall` holds their indexes into `rows` and `_extra[k]` the lines
    beyond one of the first k of them: a million one-line rows cost their ids
    and times only.
    """

    def __init__(self, width: int | None, max_chars: int) -> None:
        self.width = width
        """Wrapped at this many columns, or None: not wrapped."""
        self.max_chars = max_chars
        """Characters of a message laid out (the rest is cut when drawn)."""
        self.rows: array[int] = array("q")
        self.ts: array[float] = array("d")
        self._tall: array[int] = array("q")
        self._extra: array[int] = array("q", [0])
        self.max_width = 0
        """Longest message (characters) when not wrapping."""
        self.end = 0
        """Every row before this id that qualifies is in the layout (or was
        evicted): rows from here on have not been offered yet."""
        self._by_id = True
        """Whether `rows` ascend by id too (no late row merged in), so the
        evicted rows are a prefix."""
        self._kept_from = 0
        """`drop_before` has dropped every row older than this id."""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def total_lines(self) -> int:
        return len(self.rows) + self._extra[-1]

    def offset(self, i: int) -> int:
        """The first screen line of rows[i] (len(rows): the total)."""
        return i + self._extra[bisect_left(self._tall, i)]

    @property
    def offsets(self) -> _Offsets:
        """offsets[i] = first screen line of rows[i]; offsets[-1] = total lines."""
        return _Offsets(self)

    @classmethod
    def build(cls, store: LogStore, rows: Sequence[int] | range, width: int | None, max_chars: int) -> Layout:
        """A layout for `rows` (ascending ids), computed in bulk (C-level passes)
        so a worker thread can build it for a million rows without the UI
        thread doing per-row work. `width`: wrap at that many columns, or None."""
        ids, stamps, resorted = _in_time_order(store, rows)
        layout = cls(width, max_chars)
        layout.ts = stamps
        layout._by_id = not resorted
        if rows:
            layout.end = rows[-1] + 1
        for a in range(0, len(ids), STEP):
            layout.rows.extend(ids[a : a + STEP])
        layout._measure_all(store, ids)
        return layout

    def rewrapped(self, store: LogStore, width: int | None) -> Layout:
        """The same rows laid out at another width (all still kept in the store)."""
        layout = Layout(width, self.max_chars)
        layout.rows, layout.ts = array("q", self.rows), array("d", self.ts)
        layout.end, layout._by_id = self.end, self._by_id
        layout._measure_all(store, layout.rows)
        return layout

    def _measure_all(self, store: LogStore, ids: Sequence[int]) -> None:
        for a in range(0, len(ids), STEP):
            extras, longest = _measure(store, ids[a : a + STEP], self.width, self.max_chars)
            self._append_tall(a, extras)
            self.max_width = max(self.max_width, longest)

    def _append_tall(self, base: int, extras: list[int]) -> None:
        """Record the heights of rows[base:], `extras[j]` lines beyond one for rows[base + j]
        (after every tall row recorded so far)."""
        self._tall.extend(compress(count(base), extras))
        self._extra.extend(islice(accumulate(filter(None, extras), initial=self._extra[-1]), 1, None))

    def add(self, store: LogStore, rows: Sequence[int] | range) -> int:
        """Merge new rows (ascending ids, past every row already in) in by
        timestamp; returns the first index that changed.

        New rows in time order after the last one (the usual case while
        following) are appended in bulk."""
        if not rows:
            return len(self.rows)
        first, ts = store.first, store.ts
        if isinstance(rows, range) and rows.step == 1:
            stamps = ts[rows.start - first : rows.stop - first]
        else:
            stamps = array("d", map(ts.__getitem__, _indexes(rows, first)))
        self.end = max(self.end, rows[-1] + 1)
        extras, longest = _measure(store, rows, self.width, self.max_chars)
        self.max_width = max(self.max_width, longest)
        if _ascending(stamps) and (not self.ts or stamps[0] >= self.ts[-1]):
            pos = len(self.rows)
            self.rows.extend(rows)
            self.ts.extend(stamps)
            self._append_tall(pos, extras)
            return pos
        # out of order (a late backfill, a polled source, clock skew): re-merge from
        # where the earliest new row lands; the rows already there keep their heights
        self._by_id = False
        pos = bisect_right(self.ts, min(stamps))
        all_rows, all_ts, more = self._take_from(pos)
        all_rows += rows
        all_ts += stamps.tolist()
        more += extras
        order = sorted(range(len(all_rows)), key=all_ts.__getitem__)  # stable: arrival breaks ties
        self.rows.extend(map(all_rows.__getitem__, order))
        self.ts.extend(map(all_ts.__getitem__, order))
        self._append_tall(pos, list(map(more.__getitem__, order)))
        return pos

    def _take_from(self, pos: int) -> tuple[list[int], list[float], list[int]]:
        """Remove rows[pos:]; returns their ids, times and lines beyond one."""
        k = bisect_left(self._tall, pos)
        more = [0] * (len(self.rows) - pos)
        for t, e in zip(self._tall[k:], map(sub, self._extra[k + 1 :], self._extra[k:]), strict=True):
            more[t - pos] = e
        taken = self.rows[pos:].tolist(), self.ts[pos:].tolist(), more
        del self.rows[pos:], self.ts[pos:], self._tall[k:], self._extra[k + 1 :]
        return taken

    def drop_before(self, first_row: int) -> int:
        """Forget rows the store evicted; returns how many lines went above the first row kept."""
        if first_row <= self._kept_from:
            return 0  # rows are only ever added from the store's kept ones: none is older
        self._kept_from = first_row
        rows = self.rows
        if self._by_id:
            n = bisect_left(rows, first_row)
            if not n:
                return 0
            gone = self.offset(n)
            k = bisect_left(self._tall, n)
            del rows[:n], self.ts[:n]
            self._tall = array("q", map(sub, self._tall[k:], repeat(n)))
            self._extra = array("q", map(sub, self._extra[k:], repeat(self._extra[k])))
            return gone
        keep = list(map(first_row.__le__, rows))
        if all(keep):
            return 0
        n = keep.index(True) if any(keep) else len(rows)
        gone = self.offset(n)
        all_rows, all_ts, more = self._take_from(0)
        self.rows.extend(compress(all_rows, keep))
        self.ts.extend(compress(all_ts, keep))
        self._append_tall(0, list(compress(more, keep)))
        return gone

    def locate(self, line: int) -> tuple[int, int]:
        """(index into rows, line within that row) for a screen line."""
        tall, extra = self._tall, self._extra
        # the last tall row starting at or before the line: the line is in it, or in
        # a one-line row after it (after k + 1 tall rows)
        k = bisect_right(range(len(tall)), line, key=lambda k: tall[k] + extra[k]) - 1
        i = tall[k] if k >= 0 and line <= tall[k] + extra[k + 1] else line - extra[k + 1]
        i = max(0, min(i, len(self.rows) - 1))
        return i, line - self.offset(i)

    def index_of(self, row: int, store: LogStore) -> int | None:
        """Position of a row id, None when it is not laid out. A binary search:
        rows are in (time, id) order."""
        if row not in store:
            return None
        rows, ts = self.rows, self.ts
        i = bisect_left(range(len(rows)), (store.ts[row - store.first], row), key=lambda i: (ts[i], rows[i]))
        return i if i < len(rows) and rows[i] == row else None


class _Offsets:
    """`Layout.offsets`: each row's first screen line, computed on access."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout

    def __len__(self) -> int:
        return len(self._layout) + 1

    def __getitem__(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return self._layout.offset(i % n)
