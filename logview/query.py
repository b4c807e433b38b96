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
from itertools import accumulate, chain, compress, repeat
from operator import add, contains, ge, not_, sub
from types import ModuleType
from typing import Any, TypeVar

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
    "lvl": "level",
    "lv": "level",
    "severity": "level",
    "sev": "level",
    "loglevel": "level",
    "src": "source",
    "host": "pod",
    "replica": "pod",
    "worker": "pod",
    "container": "pod",
    "instance": "pod",
    "from": "since",
    "after": "since",
    "before": "until",
    "to": "until",
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
    literals: tuple[str, ...] = ()
    """Texts one of which every match of the regex contains (`_literal_plan`):
    a joined chunk is searched for them and the regex runs only where they are."""
    prefix: bool = False
    """Every match starts with one of `literals`: with `blob` set, the regex
    is only tried at the places they occur."""
    caseless: bool = False
    """The regex ignores case: `literals` are lower-case ASCII, searched for in
    the lower-cased chunk, and only a chunk of ASCII text can use them."""

    @property
    def blob_ok(self) -> bool:
        # words and phrases: `in` over the rows' plain texts (kept by the store)
        # beats a joined search that must map every hit back to its row
        return self.pattern is not None and (self.blob is not None or bool(self.literals))

    @property
    def lowers(self) -> bool:
        """`blob_rows` wants the chunk lower-cased."""
        return self.fold or self.caseless

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

    def blob_rows(self, blob: str, lowered: str | None, texts: list[str]) -> list[int] | None:
        """Which of `texts` contain a match (indexes, ascending), found in
        `blob`, the texts joined by `SEP` (`lowered` is `blob.lower()` when
        `lowers`); None: test them one by one (a text holds `SEP`).

        With `literals`, `str.find` finds them and the regex runs only where
        they are (on each row holding one, when they are in many rows); else a
        blob-safe regex searches the joined text."""
        assert self.pattern is not None  # words and phrases never come here (`blob_ok`)
        hay = blob
        if self.fold:
            assert lowered is not None
            hay = lowered
        find_in: str | None = hay
        if self.caseless:
            find_in = lowered if blob.isascii() else None  # ASCII: lower() keeps every position
        if self.literals and find_in is not None:
            hits = _positions(find_in, self.literals, int(len(texts) * _DENSE))
            if hits is not None:
                return self._verify(hay, hits, texts) if hits else []
            # in many rows: test the rows one by one, as the literals and the regex see them
            look = texts if find_in is blob else find_in.split(SEP)
            rows = texts if hay is blob else look if hay is find_in else hay.split(SEP)
            return self._dense(look, rows, len(texts))
        if self.blob is not None:
            return self._blob_search(hay, len(texts))
        return None

    def _dense(self, look: list[str], rows: list[str], n: int) -> list[int] | None:
        """`blob_rows` for literals in many rows: `in` finds the rows holding
        one (`look`: the texts as the literals see them), the regex runs on
        those (`rows`: as it sees them); None when a text holds `SEP`."""
        assert self.pattern is not None
        if len(look) != n or len(rows) != n:
            return None
        holds = [compress(range(n), map(contains, look, repeat(lit))) for lit in self.literals]
        cand = list(holds[0]) if len(holds) == 1 else sorted(set().union(*holds))
        return list(compress(cand, map(self.pattern.search, map(rows.__getitem__, cand))))

    def _verify(self, hay: str, hits: list[int], texts: list[str]) -> list[int] | None:
        """The rows of `texts` (joined into `hay`) with a match, given where the
        literals occur (`hits`, ascending); None when a text holds `SEP`.

        A row is the number of separators before a place, counted between
        consecutive places; all runs in C-level passes, nothing in Python per hit."""
        assert self.pattern is not None
        n = len(texts)
        if self.prefix and self.blob is not None:
            # matches can only start at the hits: try the regex right there
            starts = list(compress(hits, map(self.blob.match, repeat(hay), hits)))
            marks = [*starts, hits[-1]]
            rows = list(accumulate(map(hay.count, repeat(SEP), chain((0,), marks), marks)))
            last = rows.pop()
            found = list(dict.fromkeys(rows))  # a row may match in several places
        else:
            # the regex on each row holding a hit, cut out of the joined text
            firsts = map(add, map(hay.rfind, repeat(SEP), repeat(0), hits), repeat(1))
            starts = list(dict.fromkeys(firsts))
            rows = list(accumulate(map(hay.count, repeat(SEP), chain((0,), starts), starts)))
            ends = list(map(hay.find, repeat(SEP), starts))
            if ends[-1] < 0:
                ends[-1] = len(hay)
            found = list(compress(rows, map(self.pattern.search, map(hay.__getitem__, map(slice, starts, ends)))))
            last = rows[-1]
        # Rows and their ends are right up to the last hit's row exactly when it
        # ends where the lengths of the texts after it say: a text holding `SEP`
        # shifts the count, one that lower() grew after it shifts the end.
        # Rows past it hold no hit.
        end = hay.find(SEP, hits[-1])
        if end < 0:
            end = len(hay)
        return found if end + sum(map(len, texts[last + 1 :])) + n - 1 - last == len(hay) else None

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


def _positions(hay: str, needles: tuple[str, ...], most: int) -> list[int] | None:
    """Where the needles occur in `hay` (overlaps too), ascending; None past `most`."""
    out: list[int] = []
    append, find = out.append, hay.find
    for needle in needles:
        at = find(needle)
        while at >= 0:
            append(at)
            if len(out) > most:
                return None
            at = find(needle, at + 1)
    if len(needles) > 1:
        out.sort()
    return out


_SET_MAX = 16
"""Most strings the literal analysis lists for what a piece of a regex matches."""
_CLASS_MAX = 10
"""Most characters of a class (`[abc]`, `[0-9]`) listed one by one."""
_REPEAT_MAX = 3
"""Most repetitions (`x?`, `x{2}`) listed one by one."""
_SCAN_MAX = 20.0
"""Most passes over the text (`_scan_cost`) a prefilter may take: past that,
many short literals, the regex alone is cheaper."""
_DENSE = 0.25
"""Hits of the literals in more than this share of a chunk's rows: each row is
tested with `in` and the regex instead, cheaper than the steps per hit."""
_OWN_PREFIX = 4
"""A blob-safe regex starting with one literal shorter than this searches the
joined text itself: the regex engine finds such a prefix as fast as `find`,
with no Python step per place it occurs."""

_Choice = tuple[frozenset[str], bool]
"""Literals one of which every match contains, and whether every match starts with one."""
_EMPTY: frozenset[str] = frozenset({""})


def _scan_cost(lits: frozenset[str]) -> float:
    """Passes over a chunk's text to find these literals: one `find` pass each,
    slower for a short needle, which skips less."""
    return sum(1 + 8 / len(s) for s in lits)


def _literal_cost(choice: _Choice) -> float:
    """Rough cost of filtering a chunk with these literals, in passes over its
    text: finding them, then the regex on the rows they hit, cheap when it
    only has to be tried where they start. Logs repeat themselves, so short
    literals are taken to be common."""
    lits, prefix = choice
    share = min(1.0, sum(4 * 0.5 ** len(s) for s in lits))
    return _scan_cost(lits) + share * (16 if prefix else 48)


def _literal_plan(body: str, caseless: bool) -> tuple[tuple[str, ...], bool]:
    """Literals one of which every match of the regex contains, chosen to make
    the cheapest prefilter, and whether every match starts with one; `()` when
    none is known. With `caseless` (the regex ignores case) they are lower-case
    ASCII, for searching the lower-cased text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sre_constants
        import sre_parse

        try:
            tree = sre_parse.parse(body)
        except (re.error, OverflowError, RecursionError, ValueError, MemoryError):
            return (), False
        try:
            exact, choices = _Literals(sre_constants, caseless).seq(tree.data)
        except RecursionError:
            return (), False
    if exact is not None and "" not in exact:
        choices.append((exact, True))
    options: list[_Choice] = []
    for lits, prefix in choices:
        if any(SEP in s for s in lits):
            continue
        # a literal holding another is found through that one (at its start, for `prefix`)
        kept = frozenset(s for s in lits if not any(t != s and (s.startswith(t) if prefix else t in s) for t in lits))
        options.append((kept, prefix))
        common, at_start = _common_part(kept)
        if len(kept) > 1 and common:
            options.append((frozenset({common}), prefix and at_start))
    affordable = [o for o in options if _scan_cost(o[0]) <= _SCAN_MAX]
    best = min(affordable, key=_literal_cost, default=None)
    return ((), False) if best is None else (tuple(sorted(best[0])), best[1])


def _common_part(lits: frozenset[str]) -> tuple[str, bool]:
    """The longest text in all of `lits` (preferring one they all start with),
    and whether they all start with it; ("", False) for none or long literals."""
    first = min(lits, key=len)
    if len(first) > 64:
        return "", False
    for size in range(len(first), 0, -1):
        parts = [first[i : i + size] for i in range(len(first) - size + 1)]
        shared = [p for p in parts if all(p in s for s in lits)]
        if shared:
            lead = [p for p in shared if all(s.startswith(p) for s in lits)]
            return (lead[0], True) if lead else (shared[0], False)
    return "", False


def _product(a: frozenset[str], b: frozenset[str]) -> frozenset[str] | None:
    """Every string of `a` followed by every string of `b`; None when too many."""
    if len(a) * len(b) > _SET_MAX:
        return None
    return frozenset(x + y for x in a for y in b)


class _Literals:
    """Reads a parsed regex (`sre_parse`) for the literals its matches contain.

    Each piece gives `(exact, choices)`: `exact` is every string the piece can
    match (zero-width assertions match ""), or None when not listed; each
    choice is a set of literals one of which every match of the piece contains,
    with whether every match starts with one. A sequence multiplies out the
    exact sets of consecutive pieces into runs (`colou?r` is {color, colour});
    an alternation unites its branches. Anything else (`.`, `\\d+`, `x*`,
    backreferences, a group ignoring case) breaks a run and offers nothing.
    """

    def __init__(self, consts: ModuleType, caseless: bool) -> None:
        self.c = consts
        self.caseless = caseless

    def seq(self, items: Iterable[tuple[Any, Any]]) -> tuple[frozenset[str] | None, list[_Choice]]:
        choices: list[_Choice] = []
        run = _EMPTY
        at_start = True  # `run` starts where the sequence does
        exact = True
        for op, arg in items:
            sub, subs = self.piece(op, arg)
            if sub is not None:
                joined = _product(run, sub)
                if joined is not None:
                    run = joined
                    continue
                _flush(choices, run, at_start)
                run, at_start = sub, False
            else:
                _flush(choices, run, at_start)
                lead = at_start and run == _EMPTY
                choices += [(lits, prefix and lead) for lits, prefix in subs]
                run, at_start = _EMPTY, False
            exact = False
        if exact:
            return run, []
        _flush(choices, run, at_start)
        return None, choices

    def piece(self, op: Any, arg: Any) -> tuple[frozenset[str] | None, list[_Choice]]:
        c = self.c
        if op is c.LITERAL:
            return self.chars([chr(arg)]), []
        if op is c.IN:
            return self.chars(self.members(arg)), []
        if op in (c.AT, c.ASSERT, c.ASSERT_NOT):
            return _EMPTY, []
        if op is c.SUBPATTERN:
            _group, add_flags, _del_flags, sub = arg
            if add_flags & c.SRE_FLAG_IGNORECASE and not self.caseless:
                return None, []
            return self.seq(sub.data)
        if op is c.ATOMIC_GROUP:
            return self.seq(arg.data)
        if op is c.BRANCH:
            return self.branch([self.seq(alt.data) for alt in arg[1]])
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            low, high, sub = arg
            return self.repeat(low, high, *self.seq(sub.data))
        return None, []

    def members(self, items: list[tuple[Any, Any]]) -> list[str] | None:
        """The characters of a class, or None when it is negated, has a category or is big."""
        out: list[str] = []
        for op, arg in items:
            if op is self.c.LITERAL:
                out.append(chr(arg))
            elif op is self.c.RANGE and arg[1] - arg[0] < _CLASS_MAX:
                out += map(chr, range(arg[0], arg[1] + 1))
            else:
                return None
        return out

    def chars(self, chars: list[str] | None) -> frozenset[str] | None:
        if chars is None or len(chars) > _CLASS_MAX:
            return None
        if self.caseless:
            if not all(map(str.isascii, chars)):
                return None  # ignoring case, `ſ` matches `s` and `K` (Kelvin) matches `k`
            chars = [ch.lower() for ch in chars]
        return frozenset(chars)

    def branch(
        self, alts: list[tuple[frozenset[str] | None, list[_Choice]]]
    ) -> tuple[frozenset[str] | None, list[_Choice]]:
        if all(exact is not None for exact, _ in alts):
            union = frozenset().union(*(exact for exact, _ in alts if exact is not None))
            if len(union) <= _SET_MAX:
                return union, []
        picks: list[_Choice] = []
        for exact, choices in alts:
            options = choices + ([(exact, True)] if exact is not None and "" not in exact else [])
            if not options:
                return None, []  # a branch with nothing known: the whole offers nothing
            picks.append(min(options, key=_literal_cost))
        union = frozenset().union(*(lits for lits, _ in picks))
        if len(union) > _SET_MAX:
            return None, []
        return None, [(union, all(prefix for _, prefix in picks))]

    def repeat(
        self, low: int, high: int, exact: frozenset[str] | None, choices: list[_Choice]
    ) -> tuple[frozenset[str] | None, list[_Choice]]:
        if exact is not None and high <= _REPEAT_MAX:
            out: set[str] = set()
            power: frozenset[str] | None = _EMPTY
            for times in range(high + 1):
                if power is None:
                    break
                if times >= low:
                    out |= power
                power = _product(power, exact)
            else:
                if len(out) <= _SET_MAX:
                    return frozenset(out), []
        if low == 0:
            return None, []
        if exact is not None and "" not in exact:
            choices = [*choices, (exact, True)]
        return None, choices


def _flush(choices: list[_Choice], run: frozenset[str], at_start: bool) -> None:
    """Keep a finished run of exact pieces as a choice, unless it may be empty."""
    if "" not in run:
        choices.append((run, at_start))


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
        caseless = bool(pattern.flags & re.IGNORECASE)
        literals, prefix = _literal_plan(body, caseless)
        blob = _blob_pattern(body, flags)
        if blob is not None and prefix and not caseless and len(literals) == 1 and len(literals[0]) < _OWN_PREFIX:
            literals = ()
        self._add(_TextTerm(body, fold, pattern, negated, blob, literals, prefix, caseless and bool(literals)))

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
                raise QueryError(
                    f"-{key}: is not supported; use {'until' if key == 'since' else 'since'}: instead", start
                )
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

        Regex terms search the chunk's plain texts (the store keeps them
        without colour codes) joined by `SEP` into one string, made when the
        first of them needs it; words and phrases test the texts one by one."""
        texts = _values(store.plain, idx)
        blob: str | None = None
        lowered: str | None = None
        last = len(self._terms) - 1
        for n, term in enumerate(self._terms):
            size = len(idx)
            found: list[int] | None = None
            if size >= BLOB_MIN and term.blob_ok:
                if blob is None:
                    blob = SEP.join(texts)
                if lowered is None and term.lowers:
                    lowered = blob.lower()
                found = term.blob_rows(blob, lowered, texts)
            if found is not None:
                if term.negated:
                    mask = bytearray(b"\x01") * size
                    for i in found:
                        mask[i] = 0
                    keep = list(compress(range(size), mask))
                else:
                    keep = found
            else:
                hits: Iterable[object] = term.hits(texts)
                if term.negated:
                    hits = map(not_, hits)
                keep = list(compress(range(size), hits))
            if len(keep) == size:
                continue
            idx = list(map(idx.__getitem__, keep))
            if not idx:
                break
            if n < last:
                texts = list(map(texts.__getitem__, keep))
                blob = lowered = None
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
