"""GoldRush pipeline logs: a polled API that answers with each pod's current tail.

There is no cursor. Every answer holds the last lines of every pod, so two
answers overlap and the adapter must find where: the longest suffix of the
previous tail that is a prefix of the new one (`tail_overlap`). Only the lines
after it are new. No overlap means the tail moved on further than a whole
window between two polls: some lines may be lost, and a GAP says so.

Pods come and go (deploys, crashes, replacements): a new name is a new tab
(POD_NEW), a missing one is gone (POD_GONE), and a `logs` field that is only a
runtime tail error ("container not found") is a pod state (POD_WAITING), not a
log line. Pipeline status is polled less often and reported when it changes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from logview.errors import AuthError, RetryableError, ServerError, SourceError
from logview.model import Item, State, utcnow
from logview.providers.base import Provider, flatten
from logview.text import detect_level, sanitize, split_leading_ts

TAIL_ERRORS = ("container not found", "unable to upgrade connection", "is waiting to start")
"""Phrases of the runtime tail errors the API puts in `logs` instead of lines."""
SERVICE_KEY_HINT = "GoldRush pipeline endpoints need a ServiceKey, not a regular API key"
GONE_PODS_KEPT = 64
"""Gone pods whose last tail is remembered, in case the API lists one again."""


def tail_overlap(old: Sequence[str], new: Sequence[str]) -> int:
    """Length of the longest suffix of `old` that is a prefix of `new` (KMP, linear).

    The longest match is taken, not the first: with repeated identical lines a
    shorter match would show lines again. (When a whole window is one repeated
    line the true overlap is unknowable; the longest errs on not repeating.)
    """
    m = len(new)
    if not old or not m:
        return 0
    fail = [0] * m
    k = 0
    for q in range(1, m):
        while k and new[q] != new[k]:
            k = fail[k - 1]
        if new[q] == new[k]:
            k += 1
        fail[q] = k
    k = 0
    for x in old[-m:]:
        while k and (k == m or x != new[k]):
            k = fail[k - 1]
        if x == new[k]:
            k += 1
    return k


def overlap_is_sure(new: Sequence[str], k: int) -> bool:
    """Whether an overlap of `k` lines (`new[:k]`, the end of the last tail) shows
    the two tails really overlap, rather than meeting by chance.

    Lines printed again and again (an idle loop's message, a blank line) can
    end one tail and start the next even when the tail moved on past its whole
    window: the lines between would be lost without a word. An overlap of at
    least half the window is sure (a poller that late is rare and the chance
    run of repeats that long rarer); a shorter one must hold a line found once
    in the new tail."""
    if k * 2 >= len(new):
        return True
    seen = Counter(new)
    return any(seen[line] == 1 for line in new[:k])


_UNSURE = "the tail moved on almost a whole window between polls, and what it shares with the last one is only lines printed many times"


def split_tail(logs: str) -> list[str]:
    """The lines of a `logs` string; the empty piece after a final newline is no line."""
    if not logs:
        return []
    lines = logs.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def tail_error(logs: str) -> str | None:
    """The runtime tail error `logs` consists of, or None when it holds log lines."""
    text = logs.strip()
    if not text or "\n" in text or split_leading_ts(text)[0] is not None:
        return None
    low = text.lower()
    return text if any(p in low for p in TAIL_ERRORS) else None


# --- wire payloads ---------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Envelope(_Wire):
    data: Any = None
    error: bool = False
    error_message: str | None = None
    error_code: str | int | None = None


class _PodLogs(_Wire):
    pod: str
    logs: str | None = None


class _LogsData(_Wire):
    uid: str = ""
    pods: list[_PodLogs] = []


class _StatusData(_Wire):
    uid: str = ""
    status: str = "UNKNOWN"
    replicas: int | None = None
    ready: int | None = None
    start_time: str | None = None


_W = TypeVar("_W", bound=_Wire)


def read_envelope(body: bytes, model: type[_W]) -> _W:
    """The `data` of one answer's envelope; anything else is a ServerError saying what came."""
    try:
        env = _Envelope.model_validate_json(body)
        if env.error:
            said = env.error_message or (f"error code {env.error_code}" if env.error_code else "no message")
            raise ServerError(f"GoldRush reported an error: {_plain(said)}")
        if env.data is None:
            raise ServerError("GoldRush answered without data")
        return model.model_validate(env.data)
    except ValidationError as e:
        raise ServerError(
            f"GoldRush sent an answer logview cannot read ({e.error_count()} problems): {_plain(body.decode('utf-8', 'replace'), 120)}"
        ) from None


@dataclass(slots=True)
class _Pod:
    """What the adapter remembers of one pod between polls (and reconnects)."""

    tail: list[str] = field(default_factory=list)
    last_ts: datetime | None = None
    emitted: int = 0
    waiting: str | None = None
    gone: bool = False


def _plain(text: str, limit: int = 200) -> str:
    text = sanitize(text).strip().replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")


def _hms(dt: datetime) -> str:
    return dt.strftime("%H:%M:%S")


class GoldRushProvider(Provider):
    """Polls `/platform/pipeline-api/{pipeline_id}/logs/` and shows each line once."""

    kind = "goldrush"
    stall_timeout: ClassVar[float | None] = 30.0
    """A poll is one short request: a plain request timeout."""
    status_every: ClassVar[int] = 5
    """Fetch the pipeline status on the first poll of a session and every N polls."""

    def __init__(self, spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> None:
        super().__init__(spec, client, secret)
        self._pods: dict[str, _Pod] = {}
        self._pipeline: tuple[str, int | None, int | None] | None = None
        self.polls = 0

    def connect(self) -> AsyncIterator[Item]:
        return flatten(self.connect_batches())

    async def connect_batches(self) -> AsyncIterator[list[Item]]:
        """One polling session: poll forever; an error ends it for the streamer to retry.

        The per-pod tails live on `self`, so the next session's first poll
        picks up by overlap: nothing repeated, and a GAP if the outage was long.
        """
        base = f"/platform/pipeline-api/{self.spec.pipeline_id}"
        n = 0
        while True:
            if n % self.status_every == 0:
                changed = await self._poll_status(f"{base}/status/")
                if changed is not None:
                    yield [self.status(State.INFO, changed)]
            data = await self._get(f"{base}/logs/", _LogsData)
            self.polls += 1
            items = self._apply(data, utcnow())
            if items:
                yield items  # a poll's lines in one hand-over
            n += 1
            await asyncio.sleep(self.spec.poll_interval)

    # --- requests ---------------------------------------------------------------

    async def _get(self, path: str, model: type[_W]) -> _W:
        """GET one envelope; HTTP errors map as usual, `error: true` is a ServerError."""
        async with self.open("GET", path, headers={"Accept": "application/json"}) as resp:
            body = await resp.aread()
        return read_envelope(body, model)

    async def _poll_status(self, path: str) -> str | None:
        """A sentence when the pipeline status changed. Retryable failures are skipped:
        the status is secondary, and a real outage shows on the logs request."""
        try:
            st = await self._get(path, _StatusData)
        except RetryableError:
            return None
        key = (st.status, st.replicas, st.ready)
        if key == self._pipeline:
            return None
        self._pipeline = key
        state = _plain(st.status, 40)
        if st.replicas is None:
            return f"pipeline {state}"
        return f"pipeline {state}, {st.ready if st.ready is not None else '?'}/{st.replicas} ready"

    # --- tails ------------------------------------------------------------------

    def _apply(self, data: _LogsData, received: datetime) -> list[Item]:
        """The events and pod statuses one answer adds to what was seen before."""
        out: list[Item] = []
        listed = set()
        for entry in data.pods:
            name = entry.pod
            if name in listed:
                continue  # the same pod twice in one answer: the first wins
            listed.add(name)
            shown = _plain(name, 120)
            pod = self._pods.get(name)
            if pod is None or pod.gone:
                if pod is None:
                    pod = self._pods[name] = _Pod()
                pod.gone = False
                out.append(self.status(State.POD_NEW, f"new pod {shown}", pod=name))
            logs = entry.logs or ""
            err = tail_error(logs)
            if err is not None:
                # Keep the previous tail: if the same container comes back, the
                # overlap still holds and nothing is shown twice.
                if pod.waiting != err:
                    pod.waiting = err
                    out.append(
                        self.status(State.POD_WAITING, f"pod {shown} has no logs to show: {_plain(err)}", pod=name)
                    )
                continue
            if pod.waiting is not None:
                pod.waiting = None
                out.append(self.status(State.LIVE, f"pod {shown} is running", pod=name))
            out.extend(self._new_lines(name, pod, split_tail(logs), received))
        for name, pod in self._pods.items():
            if name not in listed and not pod.gone:
                pod.gone = True
                pod.waiting = None
                out.append(self.status(State.POD_GONE, f"pod {_plain(name, 120)} is gone", pod=name))
        self._forget_gone()
        return out

    def _new_lines(self, name: str, pod: _Pod, lines: list[str], received: datetime) -> list[Item]:
        if not lines:
            return []  # nothing printed yet (or nothing returned): the old tail still stands
        k = len(lines) if lines == pod.tail else tail_overlap(pod.tail, lines)
        if k == len(lines):
            pod.tail = lines
            return []
        out: list[Item] = []
        times = _line_times(lines, k, received)
        if pod.tail and (k == 0 or not overlap_is_sure(lines, k)):
            start = pod.last_ts or received
            why = "the tail moved on between polls" if k == 0 else _UNSURE
            out.append(
                self.status(
                    State.GAP,
                    f"lines between {_hms(start)} and {_hms(times[0])} UTC may be missing: {why}",
                    pod=name,
                    gap_from=start,
                    gap_to=times[0],
                )
            )
        for line, ts in zip(lines[k:], times, strict=True):
            pod.emitted += 1
            out.append(
                self.event(sanitize(line), ts, level=detect_level(line), pod=name, seq=pod.emitted, now=received)
            )
        pod.tail = lines
        pod.last_ts = times[-1]
        return out

    def _forget_gone(self) -> None:
        gone = [name for name, pod in self._pods.items() if pod.gone]
        for name in gone[: max(0, len(gone) - GONE_PODS_KEPT)]:
            del self._pods[name]

    # --- errors -----------------------------------------------------------------

    def error_detail(self, body: bytes) -> str:
        """The envelope's `error_message`, else whatever the body says."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error_message"), str) and data["error_message"]:
            return _plain(data["error_message"], 160)
        return super().error_detail(body)

    def key_hint(self) -> str:
        return f"check that {self.spec.key_env} holds a valid GoldRush ServiceKey"

    def not_found_hint(self) -> str:
        return "check pipeline_id (GoldRush pipeline ids start with pipe_) and that the ServiceKey can see it"

    def http_error(self, status: int, headers: Mapping[str, str], body: bytes) -> SourceError:
        if status == 403:
            detail = self.error_detail(body)
            said = "403 Forbidden" + (f": {detail}" if detail else "")
            return AuthError(f"key not allowed here ({said}); {SERVICE_KEY_HINT} ({self.spec.key_env})")
        return super().http_error(status, headers, body)


def _line_times(lines: list[str], start: int, received: datetime) -> list[datetime]:
    """Timestamps of lines[start:]. A line's own, else that of the nearest stamped
    line before it in the same tail (traceback frames, JSON lines), else of the
    first stamped line after it (the head of a tail), else the time received:
    a pod's lines stay in time order, backfill included."""
    carry: datetime | None = None
    for line in reversed(lines[:start]):
        carry = split_leading_ts(line)[0]
        if carry is not None:
            break
    own = [split_leading_ts(line)[0] for line in lines[start:]]
    out: list[datetime | None] = []
    for ts in own:
        carry = ts or carry
        out.append(carry)
    head = next((ts for ts in own if ts is not None), received)
    return [ts or head for ts in out]


__all__ = ["GoldRushProvider", "read_envelope", "split_tail", "tail_error", "tail_overlap"]
