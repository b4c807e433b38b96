"""Text helpers shared by every provider: levels, timestamps, terminal safety.

All functions here are total: any input string gives an answer, never an
exception, because they run on whatever bytes a server sends.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from logview.model import Level

# --- levels -----------------------------------------------------------------

_LEVEL_NAMES: dict[str, Level] = {
    "trace": Level.TRACE,
    "trc": Level.TRACE,
    "debug": Level.DEBUG,
    "dbg": Level.DEBUG,
    "info": Level.INFO,
    "inf": Level.INFO,
    "information": Level.INFO,
    "notice": Level.INFO,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "wrn": Level.WARN,
    "error": Level.ERROR,
    "err": Level.ERROR,
    "eror": Level.ERROR,
    "fatal": Level.FATAL,
    "critical": Level.FATAL,
    "crit": Level.FATAL,
    "panic": Level.FATAL,
    "emerg": Level.FATAL,
    "alert": Level.FATAL,
}

STREAM_LEVELS = frozenset({"stdout", "stderr"})
"""Payload "levels" that are really stream names (fal user output)."""


def parse_level(name: str | None) -> Level | None:
    """A level from a payload's level field: case-insensitive, aliases folded."""
    if not name:
        return None
    return _LEVEL_NAMES.get(name.strip().lower())


_SGR_RE = re.compile(r"\x1b\[[0-9;:]*m")
# Where a level word is trusted in free text: as a bracketed/prefixed token,
# `level=error`, JSON `"level": "error"`, or a leading/ts-following word.
_LEVEL_TEXT_RE = re.compile(
    r"""
    (?:^|[\s\[(|<])                                  # start or a separator
    (?:level[=:]\s*"?|"level"\s*:\s*"|lvl[=:]\s*"?)?  # optional key
    (?P<lvl>TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL|CRITICAL|PANIC|
            trace|debug|info|warn(?:ing)?|error|fatal|critical|panic|
            Trace|Debug|Info|Warn(?:ing)?|Error|Fatal|Critical|Panic)
    (?=$|[\s\]):|>,"])                                # a word boundary we trust
    """,
    re.VERBOSE,
)
_GO_KLOG_RE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d")
_KLOG = {"I": Level.INFO, "W": Level.WARN, "E": Level.ERROR, "F": Level.FATAL}


def detect_level(text: str) -> Level | None:
    """Guess a level from log text; only the first 200 characters are read.

    Looks for the forms real loggers print: `ERROR`, `[warn]`, `level=error`,
    JSON `"level":"error"`, Python `WARNING:root:`, Rust `  INFO target:`,
    klog `E0102 ...`. Lower-case bare words count only when they are keyed
    (`level=error`) or bracketed, so "no error found" stays unlevelled.
    """
    head = text[:200]
    if "\x1b" in head:
        head = _SGR_RE.sub("", head)
    m = _GO_KLOG_RE.match(head)
    if m:
        return _KLOG[m.group(1)]
    for m in _LEVEL_TEXT_RE.finditer(head):
        word = m.group("lvl")
        start = m.start("lvl")
        keyed = start > 0 and head[start - 1] in "=:\"[<(|" 
        if word.isupper() or keyed or word[0].isupper() and start == 0:
            return _LEVEL_NAMES.get(word.lower())
    return None


# --- timestamps -------------------------------------------------------------

_FRACTION_RE = re.compile(r"(\.\d+)")
_LEADING_TS_RE = re.compile(
    r"^\s*\[?(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\]?"
)


def parse_ts(value: str | None) -> datetime | None:
    """An aware UTC datetime from any RFC 3339 / ISO 8601 form the APIs use.

    Handles `Z`, offsets, no zone (taken as UTC), nanosecond fractions
    (cut to microseconds), a space instead of `T`, and date-only strings.
    Returns None when the value is not a timestamp.
    """
    if not value:
        return None
    s = value.strip()
    if len(s) > 64:
        return None
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    s = s.replace(",", ".", 1) if "," in s[19:21] else s

    def _cut(m: re.Match[str]) -> str:
        return m.group(1)[:7]

    s = _FRACTION_RE.sub(_cut, s, count=1)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def split_leading_ts(text: str) -> tuple[datetime | None, str]:
    """A timestamp at the very start of `text`, and the rest after it."""
    m = _LEADING_TS_RE.match(text)
    if not m:
        return None, text
    ts = parse_ts(m.group("ts"))
    if ts is None:
        return None, text
    return ts, text[m.end():].lstrip(" ")


def format_ts(dt: datetime) -> str:
    """RFC 3339 in UTC with a `Z` and microseconds only when non-zero."""
    dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- terminal safety ----------------------------------------------------------

# An escape sequence: CSI (ESC [ ... final), OSC (ESC ] ... BEL/ST), DCS/SOS/PM/APC
# (ESC P/X/^/_ ... ST), or a two-byte ESC sequence. The 8-bit C1 forms too.
_ESCAPE_RE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                   # CSI
  | (?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)? # OSC
  | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?  # DCS SOS PM APC
  | \x1b[ -/]*[0-~]?                                   # other ESC sequences / lone ESC
    """,
    re.VERBOSE,
)
_SGR_OK_RE = re.compile(r"\x1b\[[0-9;:]*m")
_UNSAFE_CHARS_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NEEDS_WORK_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _visible(ch: str) -> str:
    o = ord(ch)
    if o < 0x20:
        return chr(0x2400 + o)  # ␀ ... ␟ control pictures
    if o == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{o:04X}>"


def _escape_sequence(m: re.Match[str]) -> str:
    seq = m.group(0)
    if _SGR_OK_RE.fullmatch(seq):
        return seq
    return "".join(_visible(c) if _UNSAFE_CHARS_RE.match(c) else c for c in seq)


def sanitize(text: str) -> str:
    """Make log text safe to print: only SGR colour sequences survive.

    Every other escape sequence (cursor moves, OSC title/clipboard/links, DCS,
    bracketed paste, ...) and every control character but tab and newline is
    replaced by a visible stand-in (ESC → ␛, BEL → ␇, C1 → <U+009B>, bidi
    overrides → <U+202E>) so the reader sees that something was there. CR is
    shown as ␍ unless it ends a CRLF line. The fast path (nothing unsafe) is a
    single regex search.
    """
    if not _NEEDS_WORK_RE.search(text):
        return text
    text = text.replace("\r\n", "\n")
    if "\x1b" in text or any(c in text for c in "\x90\x98\x9b\x9d\x9e\x9f"):
        text = _ESCAPE_RE.sub(_escape_sequence, text)
    out = []
    pos = 0
    for m in _UNSAFE_CHARS_RE.finditer(text):
        c = m.group(0)
        if c == "\x1b" and _SGR_OK_RE.match(text, m.start()):
            continue
        out.append(text[pos : m.start()])
        out.append(_visible(c))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


def strip_sgr(text: str) -> str:
    """Text without its colour sequences (for plain output and matching)."""
    return _SGR_RE.sub("", text) if "\x1b" in text else text


def decode_bytes(data: bytes) -> str:
    """Bytes from the wire as text: UTF-8, bad bytes shown as U+FFFD, not lost."""
    return data.decode("utf-8", errors="replace")
