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
from itertools import accumulate, compress, islice, repeat
from operator import add, le, sub

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
    ) -> list[int]:
        """Row ids that qualify, ascending.

        Sources, pod and level are tested column-wise over slices (no Python
        indexing per row); markers follow their own rule — they stay whenever
        their source is shown and they concern the pod (or every pod).
        """
        if rows is None:
            rows = store.rows()
        out: Sequence[int] | range
        if self.sources is None and self.pod is None and self.min_level is None:
            # a range stays a range: the query engine has a faster path for it
            out = range(max(rows.start, store.first), rows.stop) if isinstance(rows, range) else [r for r in rows if r >= store.first]
        else:
            out = self._by_columns(store, rows)
        if self.query is not None and not self.query.empty:
            return self.query.filter(store, out, should_stop=should_stop)
        return list(out)

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
        keep_src = frozenset(i for i, n in enumerate(store.sources) if n in self.sources) if self.sources is not None else None
        keep_pod = frozenset(i for i, p in enumerate(store.pods) if p == self.pod) if self.pod is not None else None
        # a pod-less marker (a reconnect) concerns every pod of its source: only sources that have this pod
        pod_sources = frozenset(i for i, n in enumerate(store.sources) if (n, self.pod) in store.pod_counts) if self.pod is not None else None
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
                keep_pod is None or pod[m] in keep_pod or (pod[m] == 0 and pod_sources is not None and src[m] in pod_sources)
            ):
                row = ids[m]
                at = bisect_left(out, row)
                if at == len(out) or out[at] != row:
                    out.insert(at, row)
            m = kind.find(MARKER, m + 1)
        return out


STEP = 16_384
"""Rows per C-level pass when laying out: between passes a worker thread lets
go of the GIL, so the UI thread never waits for a whole million rows."""


def _ascending(stamps: array[float]) -> bool:
    """Whether the times never go down, checked a slice at a time."""
    for a in range(0, len(stamps), STEP):
        part = stamps[a : a + STEP + 1]
        if not all(map(le, part, part[1:])):
            return False
    return True


def _in_time_order(store: LogStore, rows: Sequence[int] | range) -> tuple[Sequence[int], array[float]]:
    """Row ids still kept, ordered by timestamp (stable: arrival breaks ties), and their times.

    Rows mostly arrive in time order already: that is checked in C-level
    passes, and only rows out of order pay for a sort."""
    first, ts = store.first, store.ts
    ids: Sequence[int]
    if isinstance(rows, range) and rows.step == 1:
        lo, hi = max(rows.start, first) - first, max(rows.start, first, rows.stop) - first
        ids = range(lo + first, hi + first)
        stamps = ts[lo:hi]
    else:
        ids = [r for r in rows if r >= first] if any(map(first.__gt__, rows)) else list(rows)
        stamps = array("d")
        for a in range(0, len(ids), STEP):
            stamps.extend(map(ts.__getitem__, map(sub, ids[a : a + STEP], repeat(first))))
    if not _ascending(stamps):
        order = sorted(range(len(ids)), key=stamps.__getitem__)
        ids = list(map(ids.__getitem__, order))
        stamps = array("d", map(stamps.__getitem__, order))
    return ids, stamps


def line_count(message: str, width: int | None) -> int:
    """Screen lines a message takes: one per line, more when wrapped at `width`."""
    if width is None:
        return message.count("\n") + 1
    width = max(1, width)
    total = 0
    for part in strip_sgr(message).split("\n"):
        total += max(1, -(-len(part) // width))
    return total


class Layout:
    """Row ids in display order (by timestamp, then arrival) with line offsets."""

    def __init__(self) -> None:
        self.rows: array[int] = array("q")
        self.ts: array[float] = array("d")
        self.offsets: array[int] = array("q", [0])
        """offsets[i] = first screen line of rows[i]; offsets[-1] = total lines."""
        self.max_width = 0
        """Longest message (characters) when built by `build` without wrapping."""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def total_lines(self) -> int:
        return self.offsets[-1]

    @classmethod
    def build(cls, store: LogStore, rows: Sequence[int] | range, width: int | None, max_chars: int) -> Layout:
        """A layout for `rows`, computed in bulk (C-level passes where possible)
        so a worker thread can build it for a million rows without the UI
        thread doing per-row work. `width`: wrap at that many columns, or None."""
        first, msgs, kind = store.first, store.message, store.kind
        ids, stamps = _in_time_order(store, rows)
        layout = cls()
        layout.ts = stamps
        offsets = layout.offsets
        longest = 0
        for a in range(0, len(ids), STEP):
            part = ids[a : a + STEP]
            layout.rows.extend(part)
            if isinstance(part, range):
                texts = msgs[part.start - first : part.stop - first]
            else:
                texts = list(map(msgs.__getitem__, map(sub, part, repeat(first))))
            base = offsets[-1]
            if width is None:
                breaks = list(map(str.count, texts, repeat("\n"), repeat(0), repeat(max_chars)))
                if any(breaks):
                    offsets.extend(islice(accumulate(map(add, breaks, repeat(1)), initial=base), 1, None))
                else:  # one line each
                    offsets.extend(range(base + 1, base + len(texts) + 1))
                longest = max(longest, max(map(len, texts), default=0))
            else:
                if isinstance(part, range):
                    kinds: bytes | bytearray = kind[part.start - first : part.stop - first]
                else:
                    kinds = bytes(map(kind.__getitem__, map(sub, part, repeat(first))))
                heights = (1 if k else line_count(m[:max_chars], width) for m, k in zip(texts, kinds, strict=True))
                offsets.extend(islice(accumulate(heights, initial=base), 1, None))
        layout.max_width = min(longest, max_chars)
        return layout

    def reset(self, store: LogStore, rows: Iterable[int], height: Callable[[int], int]) -> None:
        """Lay out `rows` with a per-row height function (`build` is the bulk form)."""
        ids, stamps = _in_time_order(store, rows if isinstance(rows, (range, list)) else list(rows))
        self._fill(ids, stamps, map(height, ids))

    def _fill(self, ids: Sequence[int], stamps: Sequence[float], heights: Iterable[int]) -> None:
        self.rows = array("q", ids)
        self.ts = array("d", stamps) if not isinstance(stamps, array) else stamps
        self.offsets = array("q", [0])
        self.offsets.extend(accumulate(heights))

    def add(self, store: LogStore, rows: Sequence[int], height: Callable[[int], int]) -> int:
        """Merge new rows in by timestamp; returns the first index that changed.

        New rows in time order after the last one (the usual case while
        following) are appended in bulk."""
        if not rows:
            return len(self.rows)
        first, ts = store.first, store.ts
        if isinstance(rows, range) and rows.step == 1:
            stamps = ts[rows.start - first : rows.stop - first]
        else:
            stamps = array("d", map(ts.__getitem__, map(sub, rows, repeat(first))))
        if all(map(le, stamps, stamps[1:])) and (not self.ts or stamps[0] >= self.ts[-1]):
            pos = len(self.rows)
            self.rows.extend(rows)
            self.ts.extend(stamps)
            self.offsets.extend(islice(accumulate(map(height, rows), initial=self.offsets[-1]), 1, None))
            return pos
        # out of order (a late backfill, a polled source, clock skew): re-merge from
        # where the earliest new row lands; the rows already there keep their heights
        new_rows = list(rows)
        new_ts = stamps.tolist()
        pos = bisect_right(self.ts, min(new_ts))
        offs = self.offsets
        all_rows = self.rows[pos:].tolist() + new_rows
        all_ts = self.ts[pos:].tolist() + new_ts
        heights = list(map(sub, offs[pos + 1 :], offs[pos:-1]))
        heights += map(height, new_rows)
        order = sorted(range(len(all_rows)), key=all_ts.__getitem__)  # stable: arrival breaks ties
        del self.rows[pos:]
        del self.ts[pos:]
        del offs[pos + 1 :]
        self.rows.extend(map(all_rows.__getitem__, order))
        self.ts.extend(map(all_ts.__getitem__, order))
        offs.extend(islice(accumulate(map(heights.__getitem__, order), initial=offs[-1]), 1, None))
        return pos

    def drop_before(self, first_row: int) -> int:
        """Forget rows the store evicted; returns how many lines went."""
        n = 0
        rows = self.rows
        while n < len(rows) and rows[n] < first_row:
            n += 1
        if not n:
            return 0
        if n < len(rows) and any(r < first_row for r in rows[n:]):
            keep = [i for i, r in enumerate(rows) if r >= first_row]
        else:
            keep = list(range(n, len(rows)))
        lines_gone = self.offsets[keep[0]] if keep else self.offsets[-1]
        heights = [self.offsets[i + 1] - self.offsets[i] for i in keep]
        self.rows = array("q", (rows[i] for i in keep))
        self.ts = array("d", (self.ts[i] for i in keep))
        offs = array("q", [0])
        total = 0
        for h in heights:
            total += h
            offs.append(total)
        self.offsets = offs
        return lines_gone

    def locate(self, line: int) -> tuple[int, int]:
        """(index into rows, line within that row) for a screen line."""
        i = bisect_right(self.offsets, line) - 1
        i = max(0, min(i, len(self.rows) - 1))
        return i, line - self.offsets[i]

    def index_of(self, row: int) -> int | None:
        """Position of a row id. Linear, but only on a key press: the cursor is
        usually near the end, so look there first."""
        rows = self.rows
        n = len(rows)
        start = max(0, n - 4096)
        for i in range(n - 1, start - 1, -1):
            if rows[i] == row:
                return i
        try:
            return rows.index(row, 0, start)
        except ValueError:
            return None
