"""The search/filter language, compiled into a fast matcher over a LogStore.

Terms are separated by spaces; every term must hold for a line to match.

    timeout             a word the message contains. Smart case (like ripgrep
                        and vim): all lower-case ignores case, so `timeout`
                        finds "TIMEOUT"; any upper-case letter makes it exact,
                        so `Timeout` finds only "Timeout".
    "connection reset"  a phrase, with the same smart case; `\\"` is a quote.
    /time(d )?out/      a Python regular expression, smart case too (escapes
                        like `\\S` do not count as upper case); `/.../i`
                        always ignores case.
    -word -"a phrase" -/re/
                        exclude lines that match.
    level:warn          that level and above (`warning`, `err`, `crit`, ...
                        are aliases; `level:warn+` means the same);
                        `level:=warn` exactly that level; `level:none` lines
                        without a level; `-level:debug` excludes debug and up.
    source:api  pod:7f9c  stream:stderr
                        the name contains the text, in any case, so `pod:7f9c`
                        finds pod-7f9c2. The same key repeated means either
                        (`source:a source:b`); different keys must all hold;
                        `-source:x` excludes. Quote names with spaces:
                        `source:"my app"`.
    since:10m  until:2h relative to when the query is compiled: s m h d,
                        combinable (`1h30m`).
    since:14:00  since:14:00:30
                        that time today, in the viewer's time zone.
    since:2026-11-23T14:00  since:2026-11-23
                        a date, or date and time; `Z` or `+02:00` may follow.
                        `since:` is inclusive, `until:` exclusive.

Matching reads the message without its colour codes, so colours never break
a match, and `Query.highlights` gives positions in that plain text.

Marker rows (reconnects, gaps, a source ending) carry news every reader of a
source needs, so text, level and stream terms let them through; only
`source:`, `pod:` and time terms can hide them. A marker without a pod stays
with a `pod:` filter when its source has a pod that the filter keeps.

A token is a regular expression only when it is a complete `/.../` (or
`/.../i`) followed by a space or the end: `/var/log/app.log` is a word. To
search for text that looks like a key (`status:500`) or starts with `-`,
quote it. `word:` with nothing after it, and `http://...`, are plain words.
"""

from __future__ import annotations

import difflib
import re
import sys
import warnings
from array import array
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from itertools import accumulate, chain, compress, islice, repeat
from operator import add, contains, ge, not_, sub
from typing import TypeVar

from logview.model import Level
from logview.store import MARKER, LogStore
from logview.text import parse_level, strip_sgr

__all__ = ["CHUNK", "Query", "QueryError", "compile_query"]

CHUNK = 16_384
"""Rows per step of `Query.filter`; `should_stop` is asked between steps."""

SEP = "\x00"
"""Joins a chunk's messages into one string that text terms search at C speed.
Stored text never holds it (control characters are made visible on the way
in); a chunk that does is searched row by row."""
BLOB_MIN = 256
"""Fewer candidate rows than this are tested one by one: joining costs more."""

KEYS = ("level", "source", "pod", "stream", "since", "until")
_KEY_HINTS = {
    "lvl": "level", "lv": "level", "severity": "level", "sev": "level", "loglevel": "level",
    "src": "source", "host": "pod", "replica": "pod", "worker": "pod", "container": "pod",
    "instance": "pod", "from": "since", "after": "since", "before": "until", "to": "until",
}
_KEY_RE = re.compile(r"([a-z]+):")
_REL_RE = re.compile(r"(?:\d{1,12}[smhd])+")
_REL_PART_RE = re.compile(r"(\d+)([smhd])")
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d\d)(?::(\d\d))?")
_DATE_RE = re.compile(r"\d{4}-\d\d-\d\d(?:[T ].*)?", re.S)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NOT_LITERAL_RE = re.compile(r"\\.|\(\?P<[^>]*>|\(\?P=[^)]*\)", re.S)
_LEVEL_WORDS = "trace, debug, info, warn, error, fatal or none"

_Col = TypeVar("_Col", bytearray, "array[int]", "array[float]", list[str])


class QueryError(ValueError):
    """A query that cannot be compiled; `position` is where, in the query text."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return self.message


# --- text terms -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TextTerm:
    """A word, phrase (`pattern` None) or regex, tested on the plain message.

    With `fold` set the message is lower-cased first and `needle` is already
    lower-case; a folded regex has no upper-case literal, so it runs without
    IGNORECASE on the lowered text, which is several times faster.
    """

    needle: str
    fold: bool
    pattern: re.Pattern[str] | None
    negated: bool
    blob: re.Pattern[str] | None = None
    """The regex as it runs over a joined chunk: it can never match `SEP` and
    its matches never depend on what surrounds them, so a match in the chunk
    is a match in one row. None: not searched that way."""
    literal: str = ""
    """Text every match of the regex contains: a joined chunk is searched for
    it and only the rows holding it are tried with the regex."""

    @property
    def blob_ok(self) -> bool:
        # words and phrases: `in` over the rows' plain texts (kept by the store)
        # beats a joined search that must map every hit back to its row
        return self.pattern is not None and (self.blob is not None or bool(self.literal))

    def test(self, plain: str) -> bool:
        hay = plain.lower() if self.fold else plain
        if self.pattern is not None:
            return self.pattern.search(hay) is not None
        return self.needle in hay

    def hits(self, texts: list[str]) -> Iterator[object]:
        """`test` over many texts at C speed: one truthy value per text."""
        hay: Iterable[str] = map(str.lower, texts) if self.fold else texts
        if self.pattern is not None:
            return map(self.pattern.search, hay)
        return map(contains, hay, repeat(self.needle))

    def blob_rows(self, hay: str, n: int) -> list[int] | None:
        """Which of the `n` texts joined by `SEP` into `hay` contain a match
        (indexes, ascending); None when `hay` turns out to hold more separators
        than `n - 1` (a text contained one). `hay` is lower-cased when `fold` is set.

        The regex's required literal is found with one `split`;
        each hit's row is the number of separators before it, counted between
        consecutive hits. The regex is then tried on those rows alone. All of
        it runs in C-level passes: nothing in Python per row or per hit."""
        assert self.pattern is not None  # words and phrases never come here (`blob_ok`)
        needle = self.literal
        if not needle:
            return self._blob_search(hay, n)
        pieces = hay.split(needle)
        if len(pieces) == 1:
            return [] if hay.count(SEP) == n - 1 else None
        at = list(accumulate(map(add, map(len, islice(pieces, len(pieces) - 1)), chain((0,), repeat(len(needle))))))
        del pieces
        rows = list(accumulate(map(hay.count, repeat(SEP), chain((0,), at), at)))
        if rows[-1] + hay.count(SEP, at[-1]) != n - 1:
            return None
        by_row = dict(zip(rows, at, strict=True))  # one hit per row is enough
        if len(by_row) * 16 > n:  # many candidates: cheaper to split every row out
            texts = hay.split(SEP)
            cand = list(by_row)
            return list(compress(cand, map(self.pattern.search, map(texts.__getitem__, cand))))
        hits = list(by_row.values())
        starts = map(add, map(hay.rfind, repeat(SEP), repeat(0), hits), repeat(1))
        ends = list(map(hay.find, repeat(SEP), hits))
        if ends[-1] < 0:
            ends[-1] = len(hay)
        rows_text = map(hay.__getitem__, map(slice, starts, ends))
        return list(compress(by_row, map(self.pattern.search, rows_text)))

    def _blob_search(self, hay: str, n: int) -> list[int] | None:
        """`blob_rows` for a blob-safe regex without a required literal: search
        the joined text, skip to the next row after a hit; when hits turn out
        dense, split the rest into rows and test those one by one."""
        assert self.blob is not None
        out: list[int] = []
        append = out.append
        count, find, search = hay.count, hay.find, self.blob.search
        pos = row = 0
        while True:
            if len(out) & 255 == 255 and len(out) * 5 > row:
                rest = hay[pos:].split(SEP)
                if len(rest) != n - row:
                    return None
                out += compress(range(row, n), map(search, rest))
                return out
            m = search(hay, pos)
            if m is None:
                return out if row + count(SEP, pos) == n - 1 else None
            at = m.start()
            row += count(SEP, pos, at)
            append(row)
            pos = find(SEP, at) + 1
            if not pos:
                return out if row == n - 1 else None
            row += 1

    def spans(self, plain: str) -> Iterator[tuple[int, int]]:
        hay = plain
        pattern = self.pattern
        if self.fold:
            hay = plain.lower()
            if len(hay) != len(plain):  # lower() grew a character: positions would drift
                hay = plain
                source = self.needle if pattern is not None else re.escape(self.needle)
                pattern = re.compile(source, re.IGNORECASE)
        if pattern is not None:
            yield from ((m.start(), m.end()) for m in pattern.finditer(hay) if m.end() > m.start())
            return
        n = len(self.needle)
        pos = hay.find(self.needle)
        while pos >= 0:
            yield pos, pos + n
            pos = hay.find(self.needle, pos + 1)


def _smart_term(needle: str, negated: bool) -> _TextTerm:
    fold = _folds(needle)
    return _TextTerm(needle.lower() if fold else needle, fold, None, negated)


_BAD_ESCAPES = frozenset("bBAZWDSxuUN0")
_PLAIN_GROUPS = ("(?:", "(?P<", "(?P=")


def _blob_pattern(body: str, flags: int) -> re.Pattern[str] | None:
    """`body` rewritten to run over rows joined by `SEP`, or None when it cannot.

    The rewrite keeps only regexes whose matches cannot contain `SEP` and do not
    depend on the text around them: `.` becomes `[^\\n\\x00]`; anchors, word
    boundaries, lookarounds, atomic groups, possessive repeats, inline flags,
    negated classes and escapes that could name `SEP` (`\\W \\D \\S \\x..`)
    make it None. Conservative by design: None only costs speed.
    """
    out: list[str] = []
    i, n = 0, len(body)
    in_class = False
    class_start = 0
    while i < n:
        c = body[i]
        if c == "\\":
            if i + 1 >= n or body[i + 1] in _BAD_ESCAPES:
                return None
            out.append(body[i : i + 2])
            i += 2
            continue
        if c == SEP:
            return None
        if in_class:
            if c == "]" and i > class_start:
                in_class = False
            elif c == "[" and body.startswith("[:", i):
                return None
            out.append(c)
            i += 1
            continue
        if c == "[":
            if body.startswith("[^", i):
                return None
            in_class = True
            class_start = i + 1  # a "]" right after "[" is a literal
        elif c in "^$" or (c == "(" and body.startswith("(?", i) and not body.startswith(_PLAIN_GROUPS, i)):
            return None  # an anchor, a lookaround, an atomic group, inline flags
        elif c == "+" and out and out[-1] in ("*", "+", "?", "}"):
            return None  # possessive
        elif c == ".":
            out.append("[^\\n\\x00]")
            i += 1
            continue
        out.append(c)
        i += 1
    if in_class:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile("".join(out), flags)
    except (re.error, OverflowError, RecursionError, ValueError, MemoryError):
        return None


def _required_literal(body: str) -> str:
    """The longest text every match of the regex must contain ("" if none known):
    a run of literal characters in the pattern's top-level sequence (plain
    groups included), which is what a match has to spell out in order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sre_constants as c
        import sre_parse

        try:
            tree = sre_parse.parse(body)
        except (re.error, OverflowError, RecursionError, ValueError, MemoryError):
            return ""
    runs: list[str] = [""]

    def walk(items: sre_parse.SubPattern) -> None:
        for op, arg in items.data:
            if op is c.LITERAL and isinstance(arg, int):
                runs[-1] += chr(arg)
            elif op is c.SUBPATTERN and isinstance(arg, tuple) and not arg[1] and not arg[2]:
                walk(arg[3])
            else:
                runs.append("")

    walk(tree)
    best = max(runs, key=len)
    return best if SEP not in best else ""


def _folds(literal: str) -> bool:
    """Smart case: ignore case when there are lower-case letters and no upper-case.

    Text without letters (`404`, `\\d+`) is matched as is: case cannot
    matter, and skipping the lower-casing saves a third of the work.
    """
    return any(c.islower() for c in literal) and not any(c.isupper() for c in literal)


# --- the parser -------------------------------------------------------------------


@dataclass(slots=True)
class _NameFilter:
    """`source:`/`pod:`/`stream:` terms of one key: OR of includes, minus excludes."""

    include: list[str]
    exclude: list[str]

    def keeps(self, name: str | None) -> bool:
        if name is None:
            return not self.include
        low = name.lower()
        if self.include and not any(v in low for v in self.include):
            return False
        return not any(v in low for v in self.exclude)

    def table(self, names: Sequence[str | None]) -> bytes:
        """1 per interned index that passes; padded so `bytes.translate` can use it."""
        t = bytes(self.keeps(n) for n in names)
        return t + bytes(256 - len(t)) if len(t) < 256 else t


class _Parser:
    def __init__(self, text: str, now: datetime, tz: tzinfo) -> None:
        self.s = text
        self.n = len(text)
        self.now = now
        self.tz = tz
        self.terms: list[_TextTerm] = []
        self.level_in: set[int] | None = None
        self.level_out: set[int] = set()
        self.names: dict[str, _NameFilter] = {}
        self.since: float | None = None
        self.until: float | None = None
        self.count = 0

    def parse(self) -> None:
        s, n = self.s, self.n
        pos = 0
        while pos < n:
            if s[pos].isspace():
                pos += 1
                continue
            start = pos
            negated = s[pos] == "-" and pos + 1 < n and not s[pos + 1].isspace()
            if negated:
                pos += 1
            c = s[pos]
            if c == '"':
                phrase, pos = self._quoted(pos)
                if phrase:
                    self._add(_smart_term(phrase, negated))
                continue
            if c == "/":
                end = self._regex_end(pos)
                if end is not None:
                    self._regex(pos, end, negated)
                    pos = end
                    continue
            m = _KEY_RE.match(s, pos)
            if m and not s.startswith("//", m.end()):
                end = self._key(m, start, negated)
                if end is not None:
                    pos = end
                    continue
            end = pos
            while end < n and not s[end].isspace():
                end += 1
            self._add(_smart_term(s[pos:end], negated))
            pos = end

    def _add(self, term: _TextTerm) -> None:
        self.terms.append(term)
        self.count += 1

    def _quoted(self, pos: int) -> tuple[str, int]:
        """The string in quotes at `pos` (`\\"` and `\\\\` unescaped) and the index after it."""
        s, n = self.s, self.n
        out: list[str] = []
        i = pos + 1
        while i < n:
            c = s[i]
            if c == "\\" and i + 1 < n and s[i + 1] in '"\\':
                out.append(s[i + 1])
                i += 2
                continue
            if c == '"':
                return "".join(out), i + 1
            out.append(c)
            i += 1
        raise QueryError('unclosed quote: add the closing "', pos)

    def _regex_end(self, pos: int) -> int | None:
        """End of a complete `/.../` or `/.../i` token at `pos`, else None (a plain word)."""
        s, n = self.s, self.n
        i = pos + 1
        while i < n and s[i] != "/":
            i += 2 if s[i] == "\\" else 1
        if i >= n or i == pos + 1:
            return None
        end = i + 1
        if end < n and s[end] == "i":
            end += 1
        return end if end == n or s[end].isspace() else None

    def _regex(self, pos: int, end: int, negated: bool) -> None:
        forced = self.s[end - 1] == "i"
        body = self.s[pos + 1 : end - 2 if forced else end - 1]
        fold = _folds(_NOT_LITERAL_RE.sub("", body))  # escapes and group names are not literals
        flags = re.IGNORECASE if forced and not fold else 0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "possible nested set" and the like
                pattern = re.compile(body, flags)
        except re.error as e:
            raise QueryError(f"invalid regular expression: {e.msg}", pos + 1 + (e.pos or 0)) from None
        except (OverflowError, RecursionError, ValueError, MemoryError) as e:
            raise QueryError(f"invalid regular expression: {e}", pos + 1) from None
        literal = "" if pattern.flags & re.IGNORECASE else _required_literal(body)
        self._add(_TextTerm(body, fold, pattern, negated, _blob_pattern(body, flags), literal))

    def _key(self, m: re.Match[str], start: int, negated: bool) -> int | None:
        """Parse `key:value`; returns the index after it, or None when it is a plain word."""
        s, n = self.s, self.n
        key = m.group(1)
        vpos = m.end()
        if vpos < n and s[vpos] == '"':
            value, end = self._quoted(vpos)
        else:
            end = vpos
            while end < n and not s[end].isspace():
                end += 1
            value = s[vpos:end]
            if not value and key not in KEYS:
                return None
        if key not in KEYS:
            raise QueryError(_unknown_key(key, s[m.start() : end]), m.start())
        if not value:
            raise QueryError(f"{key}: needs a value", vpos)
        if key == "level":
            self._level(value, vpos, negated)
        elif key in ("since", "until"):
            if negated:
                raise QueryError(f"-{key}: is not supported; use {'until' if key == 'since' else 'since'}: instead", start)
            self._time(key, value, vpos)
        else:
            f = self.names.setdefault(key, _NameFilter([], []))
            (f.exclude if negated else f.include).append(value.lower())
        self.count += 1
        return end

    def _level(self, value: str, vpos: int, negated: bool) -> None:
        exact = value.startswith("=")
        word = (value[1:] if exact else value).removesuffix("+")
        if word.lower() == "none":
            chosen = {0}
        else:
            lv = parse_level(word)
            if lv is None:
                raise QueryError(f'unknown level "{value}": use {_LEVEL_WORDS}', vpos)
            chosen = {lv.value} if exact else {x.value for x in Level if x >= lv}
        if negated:
            self.level_out |= chosen
        else:
            self.level_in = chosen | (self.level_in or set())

    def _time(self, key: str, value: str, vpos: int) -> None:
        try:
            ts = self._when(value)
        except (ValueError, OverflowError, OSError):
            ts = None
        if ts is None:
            raise QueryError(f'bad time "{value}": use 10m, 2h30m, 14:00, 14:00:30 or 2026-11-23T14:00', vpos)
        if key == "since":
            self.since = ts if self.since is None else max(self.since, ts)
        else:
            self.until = ts if self.until is None else min(self.until, ts)

    def _when(self, value: str) -> float | None:
        if _REL_RE.fullmatch(value):
            secs = sum(int(k) * _UNITS[u] for k, u in _REL_PART_RE.findall(value))
            return (self.now - timedelta(seconds=secs)).timestamp()
        m = _CLOCK_RE.fullmatch(value)
        if m:
            hms = time(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
            today = self.now.astimezone(self.tz).date()
            return datetime.combine(today, hms, tzinfo=self.tz).timestamp()
        if _DATE_RE.fullmatch(value):
            dt = datetime.fromisoformat(value)
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=self.tz)
            return dt.timestamp()
        return None


def _unknown_key(key: str, token: str) -> str:
    guess = _KEY_HINTS.get(key) or next(iter(difflib.get_close_matches(key, KEYS, n=1, cutoff=0.75)), None)
    hint = f" (did you mean {guess}:?)" if guess else ""
    quoted = token.replace("\\", "\\\\").replace('"', '\\"')
    return f'unknown key "{key}:"{hint}; keys are {", ".join(k + ":" for k in KEYS)}; to search for the text, quote it: "{quoted}"'


# --- the compiled query -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """Per-store lookup tables: which interned sources, pods, streams, levels pass."""

    key: tuple[int, int, int, int]
    level: bytes | None
    stream: bytes | None
    source: bytes | None
    pod: bytes | None
    marker_pod_sources: frozenset[int] | None
    """Sources whose pod-less markers stay under a `pod:` filter (None: all)."""


class Query:
    """A compiled query: call `filter` for many rows, `matches_row` for one."""

    def __init__(self, text: str, parser: _Parser) -> None:
        self.text = text
        self.empty = parser.count == 0
        # Substrings (cheap) before regexes, includes (which shrink the work) before excludes.
        self._terms = sorted(parser.terms, key=lambda t: (t.pattern is not None, t.negated))
        self._positive = [t for t in parser.terms if not t.negated]
        level: bytes | None = None
        if parser.level_in is not None or parser.level_out:
            keep = parser.level_in if parser.level_in is not None else set(range(256))
            level = bytes(1 if i in keep and i not in parser.level_out else 0 for i in range(256))
        self._level = level
        self._names = parser.names
        self._since = parser.since
        self._until = parser.until
        self._plan_cache: tuple[LogStore, _Plan] | None = None

    def __repr__(self) -> str:
        return f"Query({self.text!r})"

    # --- per store ------------------------------------------------------------

    def _plan(self, store: LogStore) -> _Plan:
        """Tables for this store, rebuilt only when it interned new names."""
        key = (len(store.sources), len(store.pods), len(store.streams), len(store.pod_counts))
        cached = self._plan_cache
        if cached is not None and cached[0] is store and cached[1].key == key:
            return cached[1]
        src = self._names.get("source")
        pod = self._names.get("pod")
        stream = self._names.get("stream")
        marker_sources = None
        if pod is not None and pod.include:
            index = {name: i for i, name in enumerate(store.sources)}
            marker_sources = frozenset(index[s] for (s, p) in list(store.pod_counts) if s in index and pod.keeps(p))
        plan = _Plan(
            key,
            self._level,
            stream.table(store.streams) if stream else None,
            src.table(store.sources) if src else None,
            pod.table(store.pods) if pod else None,
            marker_sources,
        )
        self._plan_cache = (store, plan)
        return plan

    def _marker_passes(self, store: LogStore, plan: _Plan, i: int) -> bool:
        src = store.source[i]
        if plan.source is not None and not plan.source[src]:
            return False
        if plan.pod is not None:
            pod = store.pod[i]
            if pod:
                if not plan.pod[pod]:
                    return False
            elif plan.marker_pod_sources is not None and src not in plan.marker_pod_sources:
                return False
        return self._time_passes(store.ts[i])

    def _time_passes(self, ts: float) -> bool:
        return (self._since is None or ts >= self._since) and (self._until is None or ts < self._until)

    # --- one row ------------------------------------------------------------------

    def matches_row(self, store: LogStore, row: int) -> bool:
        """Whether one row matches: the plain reference that `filter` must agree with."""
        if row not in store:
            return False
        i = row - store.first
        plan = self._plan(store)
        if store.kind[i] == MARKER:
            return self._marker_passes(store, plan, i)
        checks = (
            (plan.level, store.level[i]),
            (plan.stream, store.stream[i]),
            (plan.source, store.source[i]),
            (plan.pod, store.pod[i]),
        )
        if any(table is not None and not table[value] for table, value in checks):
            return False
        if not self._time_passes(store.ts[i]):
            return False
        plain = store.plain[i]
        return all(t.test(plain) != t.negated for t in self._terms)

    # --- many rows ----------------------------------------------------------------

    def filter(
        self,
        store: LogStore,
        rows: Sequence[int] | range | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
        chunk_size: int = CHUNK,
    ) -> list[int]:
        """The ids, ascending, of the rows out of `rows` (default: all) that match.

        Works `chunk_size` rows at a time and asks `should_stop()` before each
        chunk; when it says stop, returns the matches found so far.
        """
        end = store.end
        if rows is None:
            rows = store.rows()
        chunk_size = max(1, chunk_size)
        out: list[int] = []
        if isinstance(rows, range) and rows.step == 1:
            lo, hi = max(rows.start, store.first), min(rows.stop, end)
            for a in range(lo, hi, chunk_size):
                if should_stop is not None and should_stop():
                    break
                base = store.first
                part = range(max(a, base) - base, min(a + chunk_size, hi) - base)
                if part:
                    out += self._chunk(store, part, base)
            return out
        ids = list(rows)
        if any(map(ge, ids, ids[1:])):
            ids = sorted(set(ids))
        for a in range(0, len(ids), chunk_size):
            if should_stop is not None and should_stop():
                break
            base = store.first
            b = min(a + chunk_size, len(ids))
            offs = list(map(sub, ids[bisect_left(ids, base, a, b) : bisect_left(ids, end, a, b)], repeat(base)))
            if offs:
                out += self._chunk(store, offs, base)
        return out

    def _chunk(self, store: LogStore, cand: range | list[int], base: int) -> list[int]:
        """Matching ids among `cand` (offsets into the columns, ascending)."""
        if self.empty:
            return list(map(add, cand, repeat(base)))
        plan = self._plan(store)
        kinds = _values(store.kind, cand)
        markers = list(compress(cand, kinds)) if MARKER in kinds else []
        masks: list[bytes | bytearray] = []
        for table, col in ((plan.level, store.level), (plan.stream, store.stream)):
            if table is not None:
                masks.append(_values(col, cand).translate(table))
        for table, acol in ((plan.source, store.source), (plan.pod, store.pod)):
            if table is not None:
                masks.append(_lookup(_values(acol, cand), table))
        if self._since is not None or self._until is not None:
            stamps = _values(store.ts, cand)
            if self._since is not None:
                masks.append(bytes(map(self._since.__le__, stamps)))
            if self._until is not None:
                masks.append(bytes(map(self._until.__gt__, stamps)))
        idx: range | list[int] = cand
        if masks:
            idx = list(compress(cand, _and(masks, len(cand))))
        if self._terms and idx:
            idx = self._text_filter(store, idx)
        found = list(idx)
        if markers:
            # Markers skipped the column masks above; take them out, put back those that pass.
            for i in markers:
                j = bisect_left(found, i)
                if j < len(found) and found[j] == i:
                    del found[j]
            for i in markers:
                if self._marker_passes(store, plan, i):
                    insort(found, i)
        return list(map(add, found, repeat(base)))

    def _text_filter(self, store: LogStore, idx: range | list[int]) -> range | list[int]:
        """The rows of `idx` whose plain text passes every text term.

        The chunk's plain texts (the store keeps them without colour codes)
        are joined by `SEP` into one string and terms search it whole; `texts`,
        the rows one by one, is made only for the terms that need it."""
        texts: list[str] | None = _values(store.plain, idx)
        assert texts is not None
        blob: str | None = SEP.join(texts) if any(t.blob_ok for t in self._terms) else None
        lowered: str | None = None
        last = len(self._terms) - 1
        for n, term in enumerate(self._terms):
            size = len(idx)
            found: list[int] | None = None
            if blob is not None and size >= BLOB_MIN and term.blob_ok:
                if term.fold:
                    if lowered is None:
                        lowered = blob.lower()
                    hay = lowered
                else:
                    hay = blob
                found = term.blob_rows(hay, size)
                if found is None:  # a message holds the separator itself: row by row from here on
                    blob = lowered = None
                    texts = list(_values(store.plain, idx))
            if found is not None:
                if term.negated:
                    mask = bytearray(b"\x01") * size
                    for i in found:
                        mask[i] = 0
                    keep = list(compress(range(size), mask))
                else:
                    keep = found
            else:
                if texts is None:
                    texts, blob, lowered = _split(blob, store, idx)
                hits: Iterable[object] = term.hits(texts)
                if term.negated:
                    hits = map(not_, hits)
                keep = list(compress(range(size), hits))
            if len(keep) == size:
                continue
            idx_before = idx
            idx = list(map(idx.__getitem__, keep))
            if not idx:
                break
            if n < last:
                if texts is None:
                    texts, blob, lowered = _split(blob, store, idx_before)
                texts = list(map(texts.__getitem__, keep))
                blob = SEP.join(texts) if len(texts) >= BLOB_MIN and blob is not None else None
                lowered = None
        return idx

    # --- display ------------------------------------------------------------------

    def highlights(self, message: str) -> list[tuple[int, int]]:
        """Spans of the positive text terms in `strip_sgr(message)`, merged and sorted."""
        if not self._positive:
            return []
        plain = strip_sgr(message)
        spans = sorted(s for t in self._positive for s in t.spans(plain))
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                if b > merged[-1][1]:
                    merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        return merged


def _split(blob: str | None, store: LogStore, idx: range | list[int]) -> tuple[list[str], str | None, None]:
    """The plain texts of `idx` one by one, from their joined form when it
    splits back into as many (else a message holds `SEP`: from the store,
    and the joined form is given up)."""
    if blob is not None:
        texts = blob.split(SEP)
        if len(texts) == len(idx):
            return texts, blob, None
    return list(_values(store.plain, idx)), None, None


def _values(col: _Col, cand: range | list[int]) -> _Col:
    """The column's values at `cand`, as the same kind of container."""
    if isinstance(cand, range):
        return col[cand.start : cand.stop]
    picked = map(col.__getitem__, cand)
    if isinstance(col, bytearray):
        return bytearray(picked)
    if isinstance(col, array):
        return array(col.typecode, picked)
    return list(picked)


def _lookup(values: array[int], table: bytes) -> bytes:
    """`table[v]` for each value, through `bytes.translate` when all values fit a byte."""
    if len(table) == 256:
        size = values.itemsize
        low = 0 if sys.byteorder == "little" else size - 1
        return values.tobytes()[low::size].translate(table)
    return bytes(map(table.__getitem__, values))


def _and(masks: list[bytes | bytearray], n: int) -> bytes | bytearray:
    """Byte-wise AND of 0/1 masks, done as one big-integer AND each."""
    if len(masks) == 1:
        return masks[0]
    acc = int.from_bytes(masks[0], "little")
    for m in masks[1:]:
        acc &= int.from_bytes(m, "little")
    return acc.to_bytes(n, "little")


def compile_query(text: str, *, now: datetime | None = None, tz: tzinfo = UTC) -> Query:
    """Compile a query (syntax in the module docstring); raises only `QueryError`.

    `now` anchors relative times (`since:10m`) and says which day `14:00` is;
    `tz` is the zone that clock times and zone-less dates are read in.
    """
    if now is None:
        now = datetime.now(tz)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=tz)
    parser = _Parser(text, now, tz)
    parser.parse()
    return Query(text, parser)
