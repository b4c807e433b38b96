"""Feldera pipeline logs: a plain-text stream that replays its buffer on every connection.

`GET /v0/pipelines/{name}/logs` sends the runner's circular buffer (50,000
lines or 1 MB) and then new lines as they come; nothing while idle, so there
is no stall timeout. Because every connection starts with the whole buffer,
a reconnect repeats what was already shown; `ReplayDedupe` finds where the
replay meets what we have and lets only the rest through, and says so with a
GAP status when the buffer has rotated past us or the runner restarted.

Lines look like Rust `tracing` output with a source prefix:
`[fraud-detection] 2024-12-22T07:01:09.075717Z  INFO dbsp_adapters::controller: msg`
(`[manager]` for the runner's own lines, ANSI colours around the level), or
JSON objects when the server runs with `FELDERA_LOG_JSON`.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from logview.errors import ServerError
from logview.model import Item, Level, LogEvent, State, utcnow
from logview.providers.base import Provider, _read_limited, flatten
from logview.text import decode_bytes, detect_level, parse_level, parse_ts, sanitize, split_leading_ts

END_LINE = "Logs have ended"
FRESH_START = "Fresh start of pipeline logs"
WINDOW = 50_000
"""Lines remembered for dedupe: the server's buffer never holds more."""
QUIET = 0.3
"""Seconds of silence after which a replay counts as complete (see ReplayDedupe)."""
MAX_LINE = 1 << 20
SEARCH_CAP = 4096
"""Overlap candidates followed one by one before waiting for the replay's end instead."""

_NOTICE_RE = re.compile(r"(\d+) prior log lines were discarded")
_M61 = (1 << 61) - 1
_B = 1_000_003


# --- lines ---------------------------------------------------------------------


class LineSplitter:
    """Bytes in, whole `\\n`-terminated lines out.

    A line longer than `limit` bytes keeps its first `limit` bytes plus a
    marker counting the rest, which is skipped without being held. The cut is
    at the same place whatever the chunking, so a replayed long line is
    recognised as the same line.
    """

    def __init__(self, limit: int = MAX_LINE) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._skipped = 0

    def feed(self, data: bytes) -> list[str]:
        out: list[str] = []
        if self._buf or self._skipped:  # first, the line the last chunk left unfinished
            first = data.find(b"\n")
            if first < 0:
                self._take(data)
                return out
            self._take(data[:first])
            out.append(self._emit())
            data = data[first + 1 :]
        end = data.rfind(b"\n")
        if end < 0:
            self._take(data)
            return out
        if end <= self._limit:
            # No line can be too long: decode once, split once (a bad byte never spans an LF).
            out += data[:end].decode("utf-8", errors="replace").split("\n")
            self._take(data[end + 1 :])
            return out
        parts = data.split(b"\n")
        for part in parts[:-1]:
            if not self._buf and not self._skipped and len(part) <= self._limit:
                out.append(decode_bytes(part))
            else:
                self._take(part)
                out.append(self._emit())
        self._take(parts[-1])
        return out

    def rest(self) -> str:
        """The unterminated tail (a connection that ends mid-line)."""
        return decode_bytes(bytes(self._buf)) if not self._skipped else ""

    def _take(self, piece: bytes) -> None:
        room = self._limit - len(self._buf)
        if room > 0:
            self._buf += piece[:room]
        self._skipped += max(0, len(piece) - max(room, 0))

    def _emit(self) -> str:
        text = decode_bytes(bytes(self._buf))
        if self._skipped:
            text += f" … [line cut: {self._skipped:,} more bytes]"
        self._buf.clear()
        self._skipped = 0
        return text


@dataclass(slots=True)
class ParsedLine:
    message: str
    pod: str | None
    ts: datetime | None
    level: Level | None
    fields: dict[str, str] = field(default_factory=dict)
    continues: bool = False
    """No `[name]` prefix and not JSON: the next line of a multi-line record."""


_SGR = r"(?:\x1b\[[0-9;]*m)*"
_PREFIX_RE = re.compile(r"\[([^\]\s\x1b]{1,200})\](?: |$)")
_HEAD_RE = re.compile(
    _SGR
    + r"(?P<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    + _SGR
    + r"\s+"
    + _SGR
    + r"\s*(?P<level>TRACE|DEBUG|INFO|WARN|ERROR)"
    + _SGR
    + r"(?:\s+"
    + _SGR
    + r"(?P<target>[a-z_][a-z0-9_]*(?:::[a-z0-9_]+)*)"
    + _SGR
    + ":"
    + _SGR
    + r")?(?: |$)"
)


_KV_TAIL_RE = re.compile(r'(?: pipeline-(?:id|name)="(?:[^"\\]|\\.)*")+$')
_KV_RE = re.compile(r'(pipeline-(?:id|name))="((?:[^"\\]|\\.)*)"')


_LINE_RE = re.compile(r"\[(?P<pod>[^\]\s\x1b]{1,200})\] " + _HEAD_RE.pattern)
"""The common line in one match: a `[pod] ` prefix and the `tracing` head."""
_TRACING_LEVELS = {
    "TRACE": Level.TRACE,
    "DEBUG": Level.DEBUG,
    "INFO": Level.INFO,
    "WARN": Level.WARN,
    "ERROR": Level.ERROR,
}
_PODS: dict[str, str] = {}
"""Pod names as shown (sanitized), one string per name."""


def _pod_name(raw: str) -> str:
    pod = _PODS.get(raw)
    if pod is None:
        if len(_PODS) >= 1024:
            _PODS.clear()
        pod = _PODS[raw] = sanitize(raw)
    return pod


def parse_line(raw: str) -> ParsedLine:
    """One wire line: `[pod]` prefix, `tracing` head (ts, level, target) or JSON, message.

    Colours inside the message stay; those around the head are dropped with it.
    """
    text = raw[:-1] if raw.endswith("\r") else raw
    f = _LINE_RE.match(text)
    if f is not None and not text[1].isdigit():
        # the same as the general path below takes for such a line, in one regex match
        name, stamp, level, target = f.group("pod", "ts", "level", "target")
        message = text[f.end() :]
        fields = {"target": target} if target else {}
        if "pipeline-" in message:
            kv = _KV_TAIL_RE.search(message)
            if kv:
                fields.update((k, sanitize(v)) for k, v in _KV_RE.findall(kv.group(0)))
                message = message[: kv.start()]
        return ParsedLine(sanitize(message), _pod_name(name), parse_ts(stamp), _TRACING_LEVELS[level], fields)
    pod: str | None = None
    m = _PREFIX_RE.match(text)
    if m and not (m.group(1)[:1].isdigit() and parse_ts(m.group(1))):
        pod = sanitize(m.group(1))
        text = text[m.end() :]
    if text.startswith("{"):
        parsed = _parse_json(text, pod)
        if parsed is not None:
            return parsed
    h = _HEAD_RE.match(text)
    if h:
        message = text[h.end() :]
        fields = {"target": h.group("target")} if h.group("target") else {}
        kv = _KV_TAIL_RE.search(message) if "pipeline-" in message else None
        if kv:  # the runner's own lines end with the pipeline's identity
            fields.update((k, sanitize(v)) for k, v in _KV_RE.findall(kv.group(0)))
            message = message[: kv.start()]
        return ParsedLine(
            sanitize(message),
            pod,
            parse_ts(h.group("ts")),
            _TRACING_LEVELS[h.group("level")],
            fields,
            continues=pod is None,
        )
    ts, rest = split_leading_ts(text)
    message = sanitize(rest if ts else text)
    return ParsedLine(message, pod, ts, detect_level(message), continues=pod is None)


def _json_text(value: Any) -> str:
    """A non-string payload value as JSON text; one nested past Python's recursion limit is named, not raised."""
    try:
        return json.dumps(value)
    except (RecursionError, ValueError):
        return "[a JSON value nested too deeply to show]"


def _parse_json(text: str, pod: str | None) -> ParsedLine | None:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not ({"timestamp", "level", "fields"} & obj.keys()):
        return None
    inner = obj.get("fields")
    inner = inner if isinstance(inner, dict) else {}
    message = inner.get("message", inner.get("line", obj.get("message", "")))
    message = sanitize(message if isinstance(message, str) else _json_text(message))
    fields: dict[str, str] = {}
    target = obj.get("target")
    if isinstance(target, str) and target:
        fields["target"] = sanitize(target)
    for k, v in inner.items():
        if k not in ("message", "line"):
            fields[sanitize(str(k))] = sanitize(v if isinstance(v, str) else _json_text(v))[:500]
    if pod is None:
        service, name = obj.get("feldera-service"), obj.get("pipeline-name")
        if isinstance(service, str) and service != "pipeline":
            pod = "manager"
        elif isinstance(name, str) and name:
            pod = sanitize(name)
    level_field = obj.get("level")
    level = parse_level(level_field) if isinstance(level_field, str) else None
    ts_field = obj.get("timestamp")
    return ParsedLine(
        message,
        pod,
        parse_ts(ts_field) if isinstance(ts_field, str) else None,
        level or detect_level(message),
        fields,
    )


# --- dedupe --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """Lines between what was shown and what follows may be missing."""

    reason: str


@dataclass(frozen=True, slots=True)
class Notice:
    """The server's "N prior log lines were discarded" line: shown, but not a buffer line."""

    text: str


Out = str | Gap | Notice


class _Mode(enum.Enum):
    PASS = "pass"
    VERIFY = "verify"
    SEARCH = "search"


class ReplayDedupe:
    """Decides which lines of a connection are new. Pure: lines in, lines out.

    Every connection replays the server's buffer (older history first) and
    then streams new lines. Two ways to find where we left off:

    1. By position, when the replay says where it starts. The buffer's first
       line is `Fresh start ...` (position 0) until lines rotate out; after
       that the server opens with "N prior log lines were discarded", so the
       first buffer line is position N. We count positions as we deliver, so
       after a reconnect the first `next - N` replayed lines are ours again:
       they are compared with what we delivered (hashes of the last 50,000
       lines) and skipped; the rest is new. This is exact even when lines
       repeat word for word. N beyond our position means lines rotated out
       unseen: a GAP.
    2. By content, when there is no header or a compared line differs (the
       runner restarted, or a server counts differently): the longest prefix
       of the replay that equals a suffix of what we delivered is the
       overlap. Lines are held until no longer overlap can still match;
       candidates are followed one by one (with unique, timestamped lines
       that settles within a line or two of the overlap's end), and when
       too many remain the server's silence decides: after `quiet()` (no
       bytes for QUIET seconds) the replay is complete, and an overlap
       cannot be longer than the replay. No overlap at all: a GAP, and the
       whole buffer is shown.

    A connection that ends before the decision leaves no trace: the next
    one replays the same lines again.
    """

    def __init__(self, window: int = WINDOW) -> None:
        self._recent: deque[int] = deque(maxlen=window)
        self._next: int | None = None
        """Position (since the buffer's fresh start) of the next line, when known."""
        self._started = False
        self._mode = _Mode.PASS
        self._first = True
        self._base: int | None = None
        self._notice: str | None = None
        self._lost: int | None = None
        self._snap: list[int] = []
        self._held: list[str] = []
        self._vpos = 0
        self._pending: list[int] = []
        self._tracking = True
        self._best = 0
        self._prefix = 0
        self._suffix = 0
        self._pow = 1

    @property
    def deciding(self) -> bool:
        """Lines are held until the overlap is known (the server's silence may decide it)."""
        return self._mode is _Mode.SEARCH

    def begin(self) -> None:
        """A new connection: its first line may be a header."""
        self._first = True
        self._mode = _Mode.PASS
        self._base = self._notice = self._lost = None
        self._held = []
        self._snap = []

    def feed(self, line: str) -> list[Out]:
        if self._first:
            self._first = False
            return self._open(line)
        return self._step(line)

    def feed_all(self, lines: list[str]) -> list[Out]:
        """`feed` for each line; once a connection has reached new lines, all at once."""
        out: list[Out] = []
        for i, line in enumerate(lines):
            if self._mode is _Mode.PASS and not self._first:
                return out + self._deliver(lines[i:])
            out += self.feed(line)
        return out

    def quiet(self) -> list[Out]:
        """The server paused (or ended): its replay is complete."""
        return self._decide() if self._mode is _Mode.SEARCH else []

    def _step(self, line: str) -> list[Out]:
        if self._mode is _Mode.VERIFY:
            return self._verify(line)
        if self._mode is _Mode.SEARCH:
            return self._search(line)
        return self._deliver([line])

    def _open(self, line: str) -> list[Out]:
        first: str | None = line
        m = _NOTICE_RE.search(line)
        if m:
            self._base, self._notice, first = int(m.group(1)), line, None
        elif FRESH_START in line:
            self._base = 0
        out: list[Out] = []
        if not self._started:
            self._started = True
            self._next = self._base
            if self._notice is not None:
                out += [
                    Gap(f"the server's log buffer had already discarded {self._base:,} earlier lines"),
                    Notice(self._notice),
                ]
        elif self._base is not None and self._next is not None and 0 <= self._next - self._base <= len(self._recent):
            behind = self._next - self._base
            if behind:
                self._mode = _Mode.VERIFY
                self._snap = list(self._recent)
                self._vpos = len(self._snap) - behind
        else:
            if self._base is not None and self._next is not None and self._base > self._next:
                self._lost = self._base - self._next
            self._start_search()
        if first is not None:
            out += self._step(first)
        return out

    def _deliver(self, lines: list[str]) -> list[Out]:
        self._recent.extend(map(hash, lines))
        if self._next is not None:
            self._next += len(lines)
        return list(lines)

    def _verify(self, line: str) -> list[Out]:
        if hash(line) == self._snap[self._vpos]:
            self._held.append(line)
            self._vpos += 1
            if self._vpos == len(self._snap):
                self._mode = _Mode.PASS
                self._held, self._snap = [], []
            return []
        held = [*self._held, line]
        self._start_search()
        out: list[Out] = []
        for ln in held:
            out += self._step(ln)
        return out

    def _start_search(self) -> None:
        self._mode = _Mode.SEARCH
        self._snap = list(self._recent)
        self._held = []
        self._pending = []
        self._tracking = True
        self._best = 0
        self._prefix = self._suffix = 0
        self._pow = 1

    def _search(self, line: str) -> list[Out]:
        h = hash(line)
        snap, n = self._snap, len(self._snap)
        self._held.append(line)
        m = len(self._held)
        if m <= n:
            # Rolling hashes of held[:m] and snap[n-m:]: equal means an overlap of m lines.
            self._prefix = (self._prefix * _B + h) % _M61
            self._suffix = (self._suffix + snap[n - m] % _M61 * self._pow) % _M61
            self._pow = self._pow * _B % _M61
            if self._prefix == self._suffix:
                self._best = m
        if self._tracking:
            # Start positions p of longer overlaps (n - p > m) that still match so far.
            if m == 1:
                pending = [p for p in range(n - 1) if snap[p] == h]
            else:
                pending = [p for p in self._pending if snap[p + m - 1] == h and n - p > m]
            if len(pending) > SEARCH_CAP:
                self._tracking, pending = False, []
            self._pending = pending
        if m >= n or (self._tracking and not self._pending):
            return self._decide()
        return []

    def _decide(self) -> list[Out]:
        k, held, had = self._best, self._held, bool(self._snap)
        out: list[Out] = []
        if k == 0 and (had or self._lost):
            out.append(Gap(self._gap_reason(held)))
            if self._notice is not None:
                out.append(Notice(self._notice))
            self._recent.clear()
        self._mode = _Mode.PASS
        self._next = None if self._base is None else self._base + k
        self._held, self._snap, self._pending = [], [], []
        return out + self._deliver(held[k:])

    def _gap_reason(self, held: list[str]) -> str:
        if held and FRESH_START in held[0]:
            return "the pipeline's runner restarted and its log buffer started over: lines logged before the restart may be missing"
        if self._lost:
            return f"{self._lost:,} lines rotated out of the server's log buffer while logview was reconnecting"
        return "the server's log buffer no longer holds the last lines shown (it rotated, or the runner restarted): lines in between may be missing"


# --- the adapter -----------------------------------------------------------------


class FelderaProvider(Provider):
    """Follows one pipeline's logs; reconnects show each line once (see ReplayDedupe).

    Kept lines: empty lines are real lines and are shown; a line without the
    `[name]` prefix continues a multi-line record and takes its pod and time.
    `Logs have ended` is not shown as a line: it ends the source (an INFO
    status says why). A partial last line of a cut connection is dropped,
    since the next replay sends it whole.
    """

    kind = "feldera"
    stall_timeout = None

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self.dedupe = ReplayDedupe()
        self._seq = 0
        self._ts: datetime | None = None
        self._pod: str | None = None
        self._gap: Gap | None = None

    def error_detail(self, body: bytes) -> str:
        detail = super().error_detail(body)
        with suppress(ValueError):
            data = json.loads(body)
            code = data.get("error_code") if isinstance(data, dict) else None
            if isinstance(code, str) and code and code not in detail:
                return f"{detail} [{sanitize(code)[:80]}]"
        return detail

    def not_found_hint(self) -> str:
        return f"check that Feldera has a pipeline named '{self.spec.pipeline}'"

    def connect(self) -> AsyncIterator[Item]:
        return flatten(self.connect_batches())

    async def connect_batches(self) -> AsyncIterator[list[Item]]:
        path = f"/v0/pipelines/{quote(self.spec.pipeline, safe='')}/logs"
        async with self.open("GET", path) as resp:
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype.endswith("json") or ctype == "text/html":
                detail = self.error_detail(await _read_limited(resp))
                raise ServerError(
                    f"the server answered {resp.status_code} with {ctype} instead of a log stream"
                    + (f": {detail}" if detail else "")
                )
            self.dedupe.begin()
            splitter = LineSplitter()
            ended = False
            async with aclosing(self._chunks(resp)) as chunks:
                async for chunk in chunks:
                    if chunk is None:
                        outs = self.dedupe.quiet()
                    else:
                        outs, ended = self._feed(splitter.feed(chunk))
                    items = self._items(outs)
                    if items:
                        yield items
                    if ended:
                        break
            ended = ended or splitter.rest().rstrip("\r") == END_LINE
            if ended:
                items = self._items(self.dedupe.quiet())
                items.append(
                    self.status(
                        State.INFO,
                        "Feldera ended the log stream: the pipeline was stopped or deleted, or its runner restarted",
                    )
                )
                self.finished = True
                yield items

    def _feed(self, lines: list[str]) -> tuple[list[Out], bool]:
        end = _index(lines, END_LINE, END_LINE + "\r")
        if end is not None:
            return self.dedupe.feed_all(lines[:end]), True
        return self.dedupe.feed_all(lines), False

    async def _chunks(self, resp: httpx.Response) -> AsyncGenerator[bytes | None, None]:
        """The body's chunks, and None after QUIET seconds of silence while the dedupe is deciding."""
        it = resp.aiter_bytes()
        waiting: asyncio.Task[bytes | None] | None = None
        try:
            while True:
                if waiting is None and not self.dedupe.deciding:
                    chunk = await _next_chunk(it)
                else:
                    if waiting is None:
                        waiting = asyncio.create_task(_next_chunk(it))
                    done, _ = await asyncio.wait({waiting}, timeout=QUIET if self.dedupe.deciding else None)
                    if not done:
                        yield None
                        continue
                    chunk, waiting = waiting.result(), None
                if chunk is None:
                    return
                yield chunk
        finally:
            if waiting is not None:
                waiting.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await waiting

    def _items(self, outs: list[Out]) -> list[Item]:
        items: list[Item] = []
        now = utcnow()
        name, kind = self.name, self.kind
        for out in outs:
            if type(out) is str:
                # _event(parse_line(out), keep_context=True), inlined: this runs once per line
                p = parse_line(out)
                before = self._ts
                pod = p.pod if p.pod is not None or not p.continues else self._pod
                self._seq += 1
                ev = LogEvent(
                    name, kind, p.message, p.ts or before or now, p.level, pod, None, self._seq, p.fields, now
                )
                self._ts, self._pod = ev.ts, pod
                if self._gap is not None:
                    items.append(self.status(State.GAP, self._gap.reason, gap_from=before, gap_to=ev.ts))
                    self._gap = None
                items.append(ev)
            elif isinstance(out, Gap):
                self._gap = out
            elif isinstance(out, Notice):
                items.append(self._event(parse_line(out.text), now, keep_context=False))
        return items

    def _event(self, p: ParsedLine, now: datetime, *, keep_context: bool) -> LogEvent:
        pod = p.pod if p.pod is not None or not p.continues else self._pod
        self._seq += 1
        ev = LogEvent(
            self.name, self.kind, p.message, p.ts or self._ts or now, p.level, pod, None, self._seq, p.fields, now
        )
        if keep_context:
            self._ts, self._pod = ev.ts, pod
        return ev


def _index(lines: list[str], *values: str) -> int | None:
    """Where the first of `values` is in `lines` (searched in C), or None."""
    found: int | None = None
    for v in values:
        try:
            i = lines.index(v, 0, len(lines) if found is None else found)
        except ValueError:
            continue
        found = i
    return found


async def _next_chunk(it: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await anext(it)
    except StopAsyncIteration:
        return None


__all__ = ["END_LINE", "FelderaProvider", "LineSplitter", "ParsedLine", "ReplayDedupe", "parse_line"]
