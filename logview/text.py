"""Text helpers shared by every provider: levels, timestamps, terminal safety.

All functions here are total: any input string gives an answer, never an
exception, because they run on whatever bytes a server sends. They also run
once per log line, so each has a cheap path for the common case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from logview.model import Level

# --- levels -----------------------------------------------------------------

_LEVEL_NAMES: dict[str, Level] = {
    "trace": Level.TRACE,
    "trc": Level.TRACE,
    "trac": Level.TRACE,  # logrus prints levels cut to four letters
    "verbose": Level.TRACE,
    "vrb": Level.TRACE,
    "debug": Level.DEBUG,
    "dbg": Level.DEBUG,
    "debu": Level.DEBUG,
    "info": Level.INFO,
    "inf": Level.INFO,
    "information": Level.INFO,
    "notice": Level.INFO,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "wrn": Level.WARN,
    "error": Level.ERROR,
    "err": Level.ERROR,
    "erro": Level.ERROR,
    "eror": Level.ERROR,
    "severe": Level.ERROR,
    "fatal": Level.FATAL,
    "fata": Level.FATAL,
    "ftl": Level.FATAL,
    "critical": Level.FATAL,
    "crit": Level.FATAL,
    "panic": Level.FATAL,
    "pani": Level.FATAL,
    "emerg": Level.FATAL,
    "alert": Level.FATAL,
}

STREAM_LEVELS = frozenset({"stdout", "stderr"})
"""Payload "levels" that are really stream names (fal user output)."""


def parse_level(name: str | None) -> Level | None:
    """A level from a payload's level field: case-insensitive, aliases folded.

    Stream names (`stdout`, `stderr`) are not levels and give None.
    """
    if not name or not isinstance(name, str):
        return None
    return _LEVEL_NAMES.get(name.strip().lower())


def _alternation(words: Iterable[str]) -> str:
    """Longest first, so `WARNING` wins over `WARN`."""
    return "|".join(sorted(words, key=len, reverse=True))


# Words trusted as a level when written in capitals anywhere in the head of a
# line ("- app - ERROR -", "| INFO |", "npm ERR!", logrus "ERRO[0000]").
# Rare words that capitals in prose could mean otherwise (ALERT, EMERG) are
# left to the bracketed and keyed forms.
_UPPER_WORDS = [w.upper() for w in _LEVEL_NAMES if w not in ("alert", "emerg", "information", "verbose", "vrb")]
_UPPER_SET = frozenset(_UPPER_WORDS)
# Words trusted in lower/Title case only at the start, followed by a colon
# ("error: could not compile", "info: listening", "panic: runtime error").
_COLON_WORDS = frozenset(
    {"trace", "debug", "info", "notice", "warn", "warning", "error", "fatal", "critical", "panic", "severe"}
)

_SGR_RE = re.compile(r"\x1b\[[0-9;:]*m")
_GO_KLOG_RE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d\d", re.ASCII)
_KLOG = {"I": Level.INFO, "W": Level.WARN, "E": Level.ERROR, "F": Level.FATAL}

# A timestamp or clock time opening a line, skipped to find the level token
# after it: ISO forms, `2024/01/02 10:00:00` (Go's log), bare `10:00:00.123`.
_HEAD_TS = (
    r"(?:\[?(?:\d{4}[-/]\d\d[-/]\d\d[T ]?)?\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?"
    r"(?:\s?(?:Z|[+-]\d\d:?\d\d|UTC))?\]?)"
)
_HEADER_RE = re.compile(
    rf"\s*(?:{_HEAD_TS}[\s|:-]*)?"
    r"(?:\[\s*(?P<br>[A-Za-z]+)\s*\]|<(?P<ab>[A-Za-z]+)>|(?P<word>[A-Za-z]+)(?P<after>.?)(?P<next>.?))",
    re.DOTALL | re.ASCII,
)
_KEYED_RE = re.compile(
    r"""
    (?:^|(?<=[\s{,;|(\[]))
    (?:
        (?P<kq>["'])(?i:level|lvl|severity|levelname|log[._]?level|@l)(?P=kq)\s*:\s*
        (?:(?P<vq>["'])(?P<jv>[A-Za-z]+)(?P=vq)|(?P<pino>[1-6]0)(?![\d.]))
      | (?i:level|lvl|severity|log[._]?level)=(?P<fq>"?)(?P<fv>[A-Za-z]+)(?P=fq)(?=[\s,;]|$)
    )
    """,
    re.VERBOSE,
)
_PINO = {"10": Level.TRACE, "20": Level.DEBUG, "30": Level.INFO, "40": Level.WARN, "50": Level.ERROR, "60": Level.FATAL}
_SEP = r"""\s\[\](){}<>|"',;"""
"""What may stand before a level token; what may follow adds `:` and `!`."""
_RIGHT = " \t\n\r[](){}<>|\"',;:!"


def _token_pattern() -> str:
    """Every branch opens with a literal so the regex engine can skip to candidates.

    `(?<![^SEP]X)` after the first character X is the left word boundary.
    """
    names = _alternation(_LEVEL_NAMES)
    branches = [
        rf"\[(?<![^{_SEP}]\[)\s*(?P<br>(?i:{names}))\s*\]",
        rf"<(?<![^{_SEP}]<)(?P<ab>(?i:{names}))>",
    ]
    by_first: dict[str, list[str]] = {}
    for word in sorted(_UPPER_WORDS, key=len, reverse=True):
        by_first.setdefault(word[0], []).append(word[1:])
    right = re.escape(_RIGHT)
    for first, rests in by_first.items():
        branches.append(rf"{first}(?<![^{_SEP}]{first})(?:{'|'.join(rests)})(?=$|[{right}])")
    return "|".join(branches)


_TOKEN_RE = re.compile(_token_pattern())


def _header_level(head: str) -> Level | None:
    """The level token right at the start of a line (after its timestamp)."""
    m = _HEADER_RE.match(head)
    if m is None:
        return None
    bracketed = m.group("br") or m.group("ab")
    if bracketed:
        return _LEVEL_NAMES.get(bracketed.lower())
    word, after = m.group("word"), m.group("after")
    if word.isupper():
        return _LEVEL_NAMES[word.lower()] if word in _UPPER_SET and after in _RIGHT else None
    if after == ":" and m.group("next") in ("", " ", "\t", "\n") and (word.islower() or word.istitle()):
        lower = word.lower()
        return _LEVEL_NAMES[lower] if lower in _COLON_WORDS else None
    return None


def detect_level(text: str) -> Level | None:
    """Guess a level from log text; only the first 200 characters are read.

    Recognised: `ERROR x`, `[warn] x`, `level=error`, `lvl=warn`, JSON
    `"level":"error"` / `"severity":"ERROR"` / pino `"level":50`, Python
    `WARNING:root:` and `... - app - ERROR - ...`, Rust tracing `ts  INFO x`,
    klog `E0102 ...`, `error: x` / `panic: x` at the start of a line, a
    Python traceback. Lower-case words elsewhere never count, so "no error
    found" stays unlevelled: a wrong level misleads more than a missing one.
    The token right after a line's timestamp wins over a keyed field, which
    wins over capitals later in the line. Colour codes are read through.
    """
    head = text[:200]
    if "\x1b" in head:
        head = _SGR_RE.sub("", text[:400])[:200]
    return _detect(head) if _may_have_level(head) else None


def _kinds_table() -> bytes:
    """What `_may_have_level` sees of each UTF-8 byte (as an ASCII character).

    `U` and `l` an ASCII capital and small letter, `[` a `[` or `<`, `:` and
    `=` themselves, `q` a quote, whitespace, or any non-ASCII byte (it may be
    part of a Unicode space). Other bytes stay as they are: none of them is
    one of these letters.
    """
    upper, lower = bytes(range(ord("A"), ord("Z") + 1)), bytes(range(ord("a"), ord("z") + 1))
    quote_or_space = b"\"' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" + bytes(range(0x80, 0x100))
    return bytes.maketrans(
        upper + lower + b"[<:=" + quote_or_space,
        b"U" * 26 + b"l" * 26 + b"[[:=" + b"q" * len(quote_or_space),
    )


_KINDS = _kinds_table()
_UPPER_HINT = re.compile("TRAC|TRC|DEB|DBG|INF|NOTICE|WARN|WRN|ERR|EROR|SEVERE|FATA|FTL|CRIT|PANI")
"""A piece of every capitalised level word."""


def _may_have_level(head: str) -> bool:
    """False only when none of the forms `_detect` reads can be in `head` (after SGR).

    Most lines carry no level; this tells them apart with a few C-level
    scans over a one-character-per-byte picture of the head, where the
    regexes of `_detect` cost several times more. (A `str` picture: `in`
    on bytes is several times slower.)
    """
    kinds = head.encode("utf-8", "surrogatepass").translate(_KINDS).decode("ascii")
    if "[" in kinds:  # `[warn]`, `<info>`
        return True
    if "UUU" in kinds and _UPPER_HINT.search(head):  # `ERROR`, `WARN`...
        return True
    if ":" in kinds:
        if "q:" in kinds:  # a quoted key: `"level":`, `'severity' :`
            return True
        if kinds[:1] not in ("U", "l"):  # a timestamp (or spaces) first: the head's word is further on
            return True
        if kinds.lstrip("Ul")[:1] == ":":  # `error: x`, `WARNING:root:`
            return True
        if head.startswith("Traceback") or head[1:2].isdigit():  # a traceback, klog `E0102 10:00:00`
            return True
    if "=" in kinds:  # `level=error` (casefold: `(?i:...)` also takes `ſ` for `s`)
        low = head.casefold()
        return "lev" in low or "lvl" in low or "sever" in low
    return False


def _detect(head: str) -> Level | None:
    """The level in a head (the first 200 characters, colour codes removed)."""
    m = _GO_KLOG_RE.match(head)
    if m:
        return _KLOG[m.group(1)]
    if head.startswith("Traceback (most recent call last):"):
        return Level.ERROR
    level = _header_level(head)
    if level is not None:
        return level
    low = head.lower()
    k = _KEYED_RE.search(head) if ("lev" in low or "lvl" in low or "sever" in low or "@l" in low) else None
    if k:
        if k.group("pino"):
            return _PINO[k.group("pino")]
        return _LEVEL_NAMES.get((k.group("jv") or k.group("fv")).lower())
    t = _TOKEN_RE.search(head)
    if t:
        return _LEVEL_NAMES.get((t.group("br") or t.group("ab") or t.group()).lower())
    return None


# --- timestamps -------------------------------------------------------------

# RFC 3339 / ISO 8601 as the APIs write it, plus Go's `2024/01/02 10:00:00`.
_TS_CORE = r"""
    (?P<y>\d{4})(?P<ds>[-/])(?P<mo>\d\d)(?P=ds)(?P<d>\d\d)
    (?:[Tt\x20](?P<h>\d\d):(?P<mi>\d\d)(?::(?P<s>\d\d)(?:[.,](?P<f>\d+))?)?
       (?:\x20?(?P<z>[Zz]|[+-]\d\d(?::?\d\d)?))?(?:\x20(?:UTC|GMT))?
    )?
"""
_TS_RE = re.compile(_TS_CORE, re.VERBOSE | re.ASCII)
_SGRS = r"(?:\x1b\[[0-9;:]*m)*"
_LEADING_TS_RE = re.compile(
    rf"""
    (?P<pre>{_SGRS})
    (?P<open>\[)?
    {_TS_CORE}
    (?(open)\])                          # a bracket only when the ts closes it
    (?P<post>{_SGRS})
    (?=$|[\s\x1b|])
    """,
    re.VERBOSE | re.ASCII,
)
_RESET_RE = re.compile(r"\x1b\[0*m")


def _from_match(m: re.Match[str]) -> datetime | None:
    try:
        frac = m.group("f") or ""
        micro = int((frac + "000000")[:6])
        sec = int(m.group("s") or 0)
        leap = sec == 60  # RFC 3339 allows a leap second: count it as the next second
        dt = datetime(
            int(m.group("y")),
            int(m.group("mo")),
            int(m.group("d")),
            int(m.group("h") or 0),
            int(m.group("mi") or 0),
            59 if leap else sec,
            0 if leap else micro,
            tzinfo=_zone(m.group("z")),
        )
        if leap:
            dt += timedelta(seconds=1)
        return dt.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _zone(z: str | None) -> timezone:
    if not z or z in "Zz":
        return UTC
    digits = z[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    if int(digits[2:4] or 0) > 59:
        raise ValueError("bad offset")
    return timezone(timedelta(minutes=-minutes if z[0] == "-" else minutes))


_fromiso = datetime.fromisoformat


def parse_ts(value: str | None) -> datetime | None:
    """An aware UTC datetime from any RFC 3339 / ISO 8601 form the APIs use.

    Handles `Z`, offsets (`+05:30`, `+0000`), no zone (taken as UTC),
    nanosecond fractions (cut to microseconds), a comma fraction, a space
    instead of `T`, and date-only strings. Anything else, including a
    timestamp with more after it (`...Z/000042`), is not a timestamp: None.
    """
    if not value or not isinstance(value, str) or len(value) > 64:
        return None
    if value[-1] == "Z" and value[4:20:3] == "--T::.":  # the punctuation at 4, 7, 10, 13, 16 and 19
        # The common `YYYY-MM-DDTHH:MM:SS.fffZ`, in C; what it refuses (a leap second) goes the long way.
        frac = value[20:-1]
        if frac.isdigit() and frac.isascii():
            try:
                return _fromiso(value)
            except ValueError:
                pass
    m = _TS_RE.fullmatch(value.strip())
    return _from_match(m) if m else None


def split_leading_ts(text: str) -> tuple[datetime | None, str]:
    """A timestamp at the very start of `text` (bare or `[bracketed]`), and the rest.

    Colour codes wrapped around the timestamp (Rust tracing dims it) go with
    it; a colour that was opened before it and not closed stays in the rest.
    """
    if not text or not (text[0].isdigit() or text[0] in "[\x1b"):
        return None, text
    m = _LEADING_TS_RE.match(text)
    if not m or not m.group("h"):  # a date alone does not start a log line
        return None, text
    ts = _from_match(m)
    if ts is None:
        return None, text
    pre, post = m.group("pre"), m.group("post")
    reset = _RESET_RE.match(post)
    keep = post[reset.end() :] if pre and reset else pre + post
    return ts, keep + text[m.end() :].lstrip(" \t")


def format_ts(dt: datetime) -> str:
    """RFC 3339 in UTC with a `Z` and microseconds only when non-zero.

    A naive datetime is taken as UTC, like everywhere else in logview.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    else:
        try:
            dt = dt.astimezone(UTC)
        except OverflowError:
            dt = dt.replace(tzinfo=UTC)
    s = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    return f"{s}.{dt.microsecond:06d}Z" if dt.microsecond else s + "Z"


# --- terminal safety ----------------------------------------------------------

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Characters a terminal (or a line-splitting renderer) acts on. ESC is unsafe
# unless it opens a complete SGR sequence; lone surrogates cannot be printed.
_UNSAFE_RE = re.compile(
    "\x1b(?!\\[[0-9;:]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff" + _BIDI + "]"
)


def _visible_form(o: int) -> str:
    if o < 0x20:
        return chr(0x2400 + o)  # ␀ … ␟ control pictures: ESC → ␛, BEL → ␇, CR → ␍
    if o == 0x7F:
        return "\u2421"  # ␡
    if 0xD800 <= o <= 0xDFFF:
        return "\ufffd"
    return f"<U+{o:04X}>"


_VISIBLE = {chr(o): _visible_form(o) for o in [*range(0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000)]}
_VISIBLE.update({c: _visible_form(ord(c)) for c in _BIDI + "\u2028\u2029"})


def _visible(m: re.Match[str]) -> str:
    return _VISIBLE[m.group()]


def sanitize(text: str) -> str:
    """Make log text safe to print: only SGR colour sequences survive.

    Every other escape sequence (cursor moves, OSC title/clipboard/links, DCS,
    bracketed paste, ...) is defused by showing its ESC as ␛, and every other
    control character but tab and newline is replaced by a visible stand-in
    (BEL → ␇, C1 → <U+009B>, bidi overrides → <U+202E>) so the reader sees
    that something was there. CR is shown as ␍ unless it ends a CRLF line.
    Clean text is returned as the same object after one C-level scan.
    """
    if text.isprintable():  # no Cc/Cf/Zl/Zp/Cs at all: the common case
        return text
    if not _UNSAFE_RE.search(text):  # tabs, newlines, colours, NBSP, ...
        return text
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _UNSAFE_RE.sub(_visible, text)


def strip_sgr(text: str) -> str:
    """Text without its colour sequences (for plain output and matching)."""
    return _SGR_RE.sub("", text) if "\x1b" in text else text


def decode_bytes(data: bytes) -> str:
    """Bytes from the wire as text: UTF-8, bad bytes shown as U+FFFD, not lost."""
    return bytes(data).decode("utf-8", errors="replace")
