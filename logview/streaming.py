"""The Streamer: one task per source, reconnects, backoff, batching.

Providers know their API and their cursor; the streamer knows time. It runs
each source's `connect()` in a loop, turns every failure into a visible
state (reconnecting with the reason and the delay, or failed with what to
do), backs off exponentially with jitter (a server's Retry-After or SSE
`retry:` wins), and hands consumers batches rather than single lines: one
batch every `batch_interval` seconds or `batch_size` items, whichever comes
first, so a flood costs the consumer one wake-up per batch.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from logview.config import resolve_secret, slow_secret
from logview.errors import FatalSourceError, RetryableError, StreamCut
from logview.model import Item, SourceStatus, State
from logview.providers import Provider, create

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("logview.streaming")

Batch = list[Item]

_LOCAL = frozenset({"file", "stdin"})
"""Sources that need no HTTP client."""

INSECURE_NOTE = "TLS verification is off for this source (insecure = true)"
"""Said once when such a source starts, so nobody forgets the setting is on."""


class Backoff:
    """Exponential backoff with jitter: base·2^(n-1), capped, times U(0.5, 1]."""

    def __init__(self, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def delay(self, attempt: int, hint: float | None = None) -> float:
        if hint is not None:
            return min(hint, self.cap * 5)
        raw: float = min(self.cap, self.base * 2.0 ** max(0, attempt - 1))
        return raw * (0.5 + 0.5 * self._rng.random())


class Streamer:
    """Runs every source and yields batches of items from all of them.

    >>> async for batch in Streamer(specs).batches():
    ...     handle(batch)

    `batches()` ends when every source has ended or failed (or after
    `close()`). Statuses travel in the same batches as events, in order.
    """

    def __init__(
        self,
        specs: Sequence[Any],
        *,
        client: httpx.AsyncClient | None = None,
        batch_interval: float = 0.05,
        batch_size: int = 1000,
        backoff: Backoff | None = None,
        max_pending: int = 50_000,
    ) -> None:
        self.specs = list(specs)
        self.batch_interval = batch_interval
        self.batch_size = batch_size
        self.backoff = backoff or Backoff()
        self.max_pending = max_pending
        self._client = client
        self._own_client = client is None
        self._insecure_client: httpx.AsyncClient | None = None
        self._queues: dict[str, deque[Item]] = {}
        """Items received and not yet batched, per source (in arrival order within each)."""
        self._pending = 0
        """Items in all the queues."""
        self._turn = 0
        self._wake = asyncio.Event()
        self._drained: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.providers: dict[str, Provider] = {}
        self.states: dict[str, SourceStatus] = {}
        self._closed = False

    # --- public -------------------------------------------------------------

    async def batches(self, *, forever: bool = False) -> AsyncGenerator[Batch, None]:
        """Batches of at most `batch_size` items, until every source has stopped.

        With `forever`, keep waiting after that (until `close()`), so that
        `retry()` can still bring a failed source back, as a UI wants.
        """
        for spec in self.specs:
            self.start_source(spec)
        try:
            while not self._closed:
                if not self._pending:
                    if not forever and not self._running():
                        break
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                    except TimeoutError:
                        continue
                # a batch: wait out the interval unless it is already full
                if self._pending < self.batch_size:
                    await asyncio.sleep(self.batch_interval)
                batch = self._take(self.batch_size)
                if batch:
                    yield batch
        finally:
            await self.close()

    def start_source(self, spec: Any) -> None:
        """Start (or restart, e.g. after a key was fixed) one source."""
        old = self._tasks.get(spec.name)
        if old is not None and not old.done():
            old.cancel()
        self._tasks[spec.name] = asyncio.create_task(self._run(spec), name=f"source:{spec.name}")

    def retry(self, name: str) -> bool:
        """Restart a failed or ended source by name."""
        for spec in self.specs:
            if spec.name == name:
                self.start_source(spec)
                return True
        return False

    def drain(self) -> Batch:
        """Items received but not yet handed out in a batch: a last flush after stopping."""
        return self._take(self._pending)

    def queued(self, name: str) -> int:
        """Items of one source received but not yet handed out in a batch."""
        q = self._queues.get(name)
        return len(q) if q else 0

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        tasks = [t for t in self._tasks.values() if not t.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in (self._client if self._own_client else None, self._insecure_client):
            if c is not None:
                await c.aclose()

    # --- internals ----------------------------------------------------------

    def _running(self) -> bool:
        return any(not t.done() for t in self._tasks.values())

    def _take(self, size: int) -> Batch:
        """Up to `size` items, shared fairly among the sources that have any.

        Each source with items waiting gets an equal share of the batch (what
        a source does not need goes to the others), in round-robin order, so
        a quiet source's lines come out in the next batch even while another
        floods. A source's own items keep their order.
        """
        batch: Batch = []
        room = min(size, self._pending)
        active = [(name, q) for name, q in self._queues.items() if q]
        if len(active) > 1:  # who goes first rotates, so a full batch favours no source
            self._turn = k = (self._turn + 1) % len(active)
            active = active[k:] + active[:k]
        while room > 0 and active:
            share = max(1, room // len(active))
            still: list[tuple[str, deque[Item]]] = []
            for name, q in active:
                n = min(share, len(q), room)
                if n == len(q):
                    batch.extend(q)
                    q.clear()
                else:
                    batch.extend(q.popleft() for _ in range(n))
                    still.append((name, q))
                room -= n
                self._released(name, q)
                if room == 0:
                    break
            active = still
        self._pending -= len(batch)
        return batch

    def _released(self, name: str, q: deque[Item]) -> None:
        if len(q) < self.max_pending:
            ev = self._drained.get(name)
            if ev is not None:
                ev.set()

    async def _push_many(self, name: str, items: list[Item]) -> None:
        """Queue a source's items; hold the source while too many of its own wait (backpressure)."""
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = deque()
        before = self._pending
        q.extend(items)
        self._pending = n = before + len(items)
        if before == 0 or n >= self.batch_size:
            self._wake.set()
        if len(q) >= self.max_pending:
            # the consumer is behind on this source: hold it (only it) until it catches up
            ev = self._drained.get(name)
            if ev is None:
                ev = self._drained[name] = asyncio.Event()
            ev.clear()
            await ev.wait()

    async def _push(self, item: Item, name: str | None = None) -> None:
        await self._push_many(name if name is not None else item.source, [item])

    async def _status(self, status: SourceStatus) -> None:
        if status.pod is None and status.state is not State.INFO and status.state is not State.GAP:
            self.states[status.source] = status
        await self._push(status)

    def _client_for(self, spec: Any) -> httpx.AsyncClient | None:
        if spec.provider in _LOCAL:
            return None
        if getattr(spec, "insecure", False):
            if self._insecure_client is None:
                self._insecure_client = _make_client(verify=False)
            return self._insecure_client
        if self._client is None:
            # made on first use: a file-only session never pays for TLS set-up (~0.1 s of CA loading)
            self._client = _make_client(verify=True)
        return self._client

    async def _run(self, spec: Any) -> None:
        name = spec.name
        try:
            await self._run_inner(spec)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug in an adapter must not take the others down
            log.exception("source %s crashed", name)
            await self._status(SourceStatus(name, State.FAILED, f"internal error: {type(e).__name__}: {e}"))

    async def _run_inner(self, spec: Any) -> None:
        name = spec.name
        await self._status(SourceStatus(name, State.CONNECTING, "connecting"))
        if getattr(spec, "insecure", False):
            await self._status(SourceStatus(name, State.INFO, INSECURE_NOTE))
        try:
            # a key command (`pass show ...`) or a keyring unlock may take seconds: not on the event loop
            secret = await asyncio.to_thread(resolve_secret, spec) if slow_secret(spec) else resolve_secret(spec)
        except FatalSourceError as e:
            await self._status(SourceStatus(name, State.FAILED, str(e)))
            return
        provider = create(spec, self._client_for(spec), secret)
        self.providers[name] = provider
        attempt = 0
        down_since: float | None = None
        while True:
            started = time.monotonic()
            live = _Once(functools.partial(self._announce_live, name, attempt, down_since))
            provider.on_connected = live
            hint: float | None = None
            try:
                async for items in provider.connect_batches():
                    live()  # adapters that never call connected()
                    await self._push_many(name, items)
                if provider.finished:
                    await self._status(SourceStatus(name, State.ENDED, "the stream has ended"))
                    return
                raise StreamCut("the server closed the stream")
            except FatalSourceError as e:
                await self._status(SourceStatus(name, State.FAILED, str(e)))
                return
            except RetryableError as e:
                reason = str(e)
                hint = e.retry_after
                cut = isinstance(e, StreamCut)
            if live.done:
                down_since = None
                if time.monotonic() - started > 5.0:
                    attempt = 0  # it was up a while: start the backoff over
            if hint is None and cut and provider.retry_hint is not None and attempt == 0:
                hint = provider.retry_hint  # SSE `retry:` is for a first reconnect, then we back off
            attempt += 1
            if down_since is None:
                down_since = time.monotonic()
            delay = self.backoff.delay(attempt, hint)
            await self._status(
                SourceStatus(
                    name, State.RECONNECTING, f"{reason}; reconnecting in {delay:.1f}s", attempt=attempt, delay=delay
                )
            )
            await asyncio.sleep(delay)

    def _announce_live(self, name: str, attempt: int, down_since: float | None) -> None:
        if attempt == 0 or down_since is None:
            status = SourceStatus(name, State.LIVE, "live")
        else:
            gone = time.monotonic() - down_since
            status = SourceStatus(name, State.LIVE, f"reconnected after {gone:.1f}s, resumed", attempt=attempt)
        self.states[name] = status
        q = self._queues.get(name)
        if q is None:
            q = self._queues[name] = deque()
        q.append(status)
        self._pending += 1
        self._wake.set()


class _Once:
    """Call a function the first time it is called, never again."""

    __slots__ = ("_fn", "done")

    def __init__(self, fn: Callable[[], None]) -> None:
        self._fn = fn
        self.done = False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self._fn()


def _make_client(verify: bool) -> httpx.AsyncClient:
    import httpx  # not at module level: a file-only session never loads it

    return httpx.AsyncClient(
        verify=verify,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
        headers={"User-Agent": "logview"},
    )
