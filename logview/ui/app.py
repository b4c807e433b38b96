"""The Textual app: wires the stream, the store, the view and the widgets.

The streamer runs in a worker thread with its own event loop; each batch
is handed to the UI thread (`call_from_thread`, which also gives natural
backpressure) where it goes into the store and, if it qualifies, the pane.
Filters over the whole store run in a thread worker so the screen stays
interactive; their results replace the pane's rows when done.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Static, Tab, Tabs
from textual.worker import get_current_worker

from logview.config import Settings
from logview.model import Level, LogEvent, SourceStatus, State
from logview.query import Query, QueryError, compile_query
from logview.store import MARKER, LogStore, marker_text
from logview.streaming import Streamer
from logview.ui.logpane import TIME_MODES, LogPane, pod_label
from logview.ui.querybar import QueryBar
from logview.ui.screens import DetailScreen, HelpScreen
from logview.ui.sidebar import NodeRef, SourceTree
from logview.ui.statusline import StatusLine
from logview.ui.themes import DEFAULT_THEME, VARIABLE_DEFAULTS, load_themes
from logview.view import Layout, ViewSpec

LEVEL_CYCLE: tuple[Level | None, ...] = (None, Level.DEBUG, Level.INFO, Level.WARN, Level.ERROR)
NARROW = 100
INGEST_SLICE = 250
"""Items of a streamed batch the UI thread takes in one go before it lets keys and frames run."""
FLOOD_FRAME = 0.2
"""Under a flood, new rows go to the pane at most this often (seconds)."""
FLOOD_ROWS = 100
"""Fewer new rows than this go to the pane at once, however recent the last ones."""
FULL_GC_SPACING = 10
"""While streaming, the collector's full passes (a pause of ~40 ms each under a
flood, mostly Textual's caches) come this many times further apart."""


class LogviewApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "logview"

    BINDINGS = [
        # a log viewer quits on Ctrl-C like `tail -f` and `kubectl logs -f`, even from the query bar
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "open_query('search')", "Search"),
        Binding("f,backslash", "open_query('filter')", "Filter"),
        Binding("n", "next_match(1)", "Next", show=False),
        Binding("N", "next_match(-1)", "Prev", show=False),
        Binding("escape", "clear_query", "Clear", show=False),
        Binding("F", "follow", "Follow"),
        Binding("t", "cycle_time", "Time"),
        Binding("w", "toggle_wrap", "Wrap"),
        Binding("s", "toggle_sidebar", "Sources"),
        Binding("l", "cycle_level", "Level"),
        Binding("enter", "details", "Details", show=False),
        Binding("y", "copy", "Copy"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", show=False),
        Binding("right_square_bracket", "tab(1)", "Next tab", show=False),
        *[Binding(str(n), f"tab_number({n})", f"Tab {n}", show=False) for n in range(1, 10)],
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        specs: list[Any],
        settings: Settings | None = None,
        *,
        theme: str | None = None,
        stream: bool = True,
        store: LogStore | None = None,
        clock: Any = None,
    ) -> None:
        super().__init__()
        settings = settings or Settings()
        self.specs = specs
        self.settings = settings
        self.store = store or LogStore(settings.max_lines)
        for spec in specs:
            self.store.source_index(spec.name, spec.provider)
        self._stream_enabled = stream
        self._theme_name = theme or settings.theme
        self._clock = clock or (lambda: datetime.now())
        self.states: dict[str, SourceStatus] = {}
        self.pod_states: dict[tuple[str, str], State] = {}
        self.included: set[str] = {s.name for s in specs}
        self.focus_source: str | None = None
        self.pod: str | None = None
        self.min_level: Level | None = None
        self.filter_q: Query | None = None
        self.search_q: Query | None = None
        self._search_hits: list[int] = []
        self._hit: int | None = None
        self._sidebar_user: bool | None = None
        self._streamer: Streamer | None = None
        self._stream_loop: asyncio.AbstractEventLoop | None = None
        self._view_busy: float | None = None
        self._view_generation = 0
        self._tab_pods: dict[str, str | None] = {"tab-all": None}
        self._pod_tab_ids: dict[str, str] = {}
        self._stream_stop = threading.Event()
        self._chrome_shown: dict[str, tuple[str, tuple[Any, ...]]] = {}
        # the theme is set before the app starts: set later, once the widgets are styled, it styles them all again
        themes, self._theme_errors = load_themes()
        for t in themes:
            self.register_theme(t)
        self.theme = self._theme_name if self._theme_name in self.available_themes else DEFAULT_THEME

    # --- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="titlebar"):
            yield Static(id="title")
            yield Static(id="clock")
        with Horizontal(id="body"):
            yield SourceTree([(s.name, s.provider) for s in self.specs], id="sidebar")
            with Vertical(id="main"):
                yield Tabs(Tab("All", id="tab-all"), id="pods")
                yield LogPane(self.store, id="log")
                yield StatusLine(id="statusline")
                yield QueryBar(id="querybar")
        yield Footer()

    @property
    def pane(self) -> LogPane:
        return self.query_one("#log", LogPane)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        if self._theme_errors:
            self.notify(
                "\n".join(self._theme_errors),
                title="Some theme files could not be loaded",
                severity="warning",
                timeout=8,
            )
        if self.theme != self._theme_name:
            self.notify(f"no theme named '{self._theme_name}'; using {DEFAULT_THEME}", severity="warning")
            self._theme_name = DEFAULT_THEME
        self.pane.focus()
        self._apply_sidebar_visibility()
        self.query_one("#pods").add_class("hidden")
        self.refresh_chrome()
        self.set_interval(0.5, self.refresh_chrome)
        if self._stream_enabled:
            self._run_stream()
        if len(self.store):
            self.recompute_view()

    def watch_theme(self, theme: str) -> None:
        if self.is_running and self.query(LogPane):
            self.pane.rerender()

    def on_resize(self) -> None:
        self._apply_sidebar_visibility()

    def _apply_sidebar_visibility(self) -> None:
        show = self._sidebar_user if self._sidebar_user is not None else self.size.width >= NARROW
        self.query_one("#sidebar").set_class(not show, "hidden")

    # --- streaming ------------------------------------------------------------

    _rows_due: Timer | None = None
    """Set while new rows wait for the pane (`_show_rows`)."""
    _rows_shown_at = 0.0
    """When the pane last took new rows (monotonic)."""

    @work(thread=True, exclusive=True, group="stream", name="stream")
    def _run_stream(self) -> None:
        # Under a flood the collector's full passes come every few seconds and walk every object:
        # ~90 ms each for the app's widgets and the store's columns. What exists by now stays,
        # so those passes leave it out (~15 ms each), and they come a tenth as often: what a
        # flood leaves behind is freed by reference counts; a full pass only finds cycles.
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], thresholds[2] * FULL_GC_SPACING)
        try:
            asyncio.run(self._stream_main())
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()  # the app is closing: its objects may go

    async def _stream_main(self) -> None:
        self._stream_loop = asyncio.get_running_loop()
        self._streamer = Streamer(self.specs)
        async for batch in self._streamer.batches(forever=True):
            # a slice at a time: between two, the UI thread runs what else is due (keys, frames)
            for i in range(0, len(batch), INGEST_SLICE):
                if self._stream_stop.is_set():
                    return
                try:
                    self.call_from_thread(self.ingest, batch[i : i + INGEST_SLICE])  # waits until taken
                except RuntimeError:
                    return  # the app is closing

    def ingest(self, batch: Iterable[LogEvent | SourceStatus]) -> None:
        """Put a batch into the store and, what qualifies, into the pane.

        The store takes every row at once. The pane takes a few new rows at
        once too, but a flood at most every `FLOOD_FRAME`: each time it takes
        rows while following, it draws every row in view anew, and a key
        pressed meanwhile waits for that.
        """
        store = self.store
        start, first = store.end, store.first
        events: list[LogEvent] = []
        for item in batch:
            if isinstance(item, LogEvent):
                events.append(item)
                continue
            if events:
                store.extend(events)
                events = []
            self._on_status(item)
        if events:
            store.extend(events)
        if store.end == start:
            return
        if store.first != first:  # rows were evicted: the pane lets go of them now
            if self._rows_due is not None:
                self._rows_due.stop()
            self._show_rows()
        elif self._rows_due is None:
            wait = self._rows_shown_at + FLOOD_FRAME - time.monotonic()
            if wait <= 0 or store.end - self.pane.lines.end < FLOOD_ROWS:
                self._show_rows()
            else:
                self._rows_due = self.set_timer(wait, self._show_rows, name="rows")

    def _show_rows(self) -> None:
        """Give the pane the rows that arrived since it last took some."""
        self._rows_due = None
        self._rows_shown_at = time.monotonic()
        try:
            pane = self.pane
        except NoMatches:
            return  # due as the app closes: the pane is gone
        store = self.store
        if self._view_busy is not None or pane.lines.end >= store.end:
            return  # a running recompute catches up with the rows itself, or none are new
        rows = self.view_spec().since(store, pane.lines.end)
        pane.add_rows(rows)
        if self.search_q is not None and not self.search_q.empty:
            self._search_hits.extend(search_hits(store, self.search_q, rows))

    def _on_status(self, st: SourceStatus) -> None:
        if st.pod is not None:
            if st.state in (State.POD_NEW, State.POD_GONE, State.POD_WAITING, State.LIVE):
                self.pod_states[(st.source, st.pod)] = st.state
        elif st.state not in (State.INFO, State.GAP):
            self.states[st.source] = st
        text = marker_text(st)
        if text:
            self.store.add_marker(st, text)
        if st.state is State.INFO and st.pod is None and st.message:
            self.store.add_marker(st, st.message)

    def retry_source(self, name: str) -> None:
        if self._stream_loop is not None and self._streamer is not None:
            self._stream_loop.call_soon_threadsafe(self._streamer.retry, name)
            self.notify(f"retrying {name}")

    def on_unmount(self) -> None:
        self._stream_stop.set()
        if self._stream_loop is not None and self._streamer is not None and self._stream_loop.is_running():
            asyncio.run_coroutine_threadsafe(self._streamer.close(), self._stream_loop)

    # --- the view ---------------------------------------------------------------

    def view_spec(self) -> ViewSpec:
        if self.focus_source is not None:
            sources: frozenset[str] | None = frozenset({self.focus_source})
        elif len(self.included) == len(self.specs) and not set(self.store.sources) - self.included:
            sources = None
        else:
            sources = frozenset(self.included)
        return ViewSpec(sources=sources, pod=self.pod, min_level=self.min_level, query=self.filter_q)

    def recompute_view(self) -> None:
        """Select, order and lay out the rows in a worker; the UI thread only swaps them in.
        Clearing a filter swaps back the layout from before it instead, when the pane kept one."""
        self._view_generation += 1
        spec = self.view_spec()
        if self.search_q is None and self.pane.restore_unfiltered(spec):
            self._view_busy = None
            self.workers.cancel_group(self, "view")  # a filter still being computed is not wanted any more
            self.refresh_chrome()
            return
        self._view_busy = time.monotonic()
        self._recompute(spec, self.search_q, self._view_generation, self.pane.message_width())

    @work(thread=True, exclusive=True, group="view", name="view")
    def _recompute(self, spec: ViewSpec, search: Query | None, generation: int, width: int | None) -> None:
        worker = get_current_worker()
        store = self.store
        store.readers += 1  # hold eviction: rows must not shift while we read them
        try:
            end = store.end
            rows = spec.select(store, range(store.first, end), should_stop=lambda: worker.is_cancelled)
            hits = search_hits(store, search, rows) if search is not None and not search.empty else []
            layout = None if worker.is_cancelled else self.pane.build_layout(rows, width)
        finally:
            store.readers -= 1
        if layout is not None and not worker.is_cancelled:
            self.call_from_thread(self._apply_view, layout, hits, end, generation)

    def _apply_view(self, layout: Layout, hits: list[int], end: int, generation: int) -> None:
        if generation != self._view_generation or not self.is_running:
            return
        store = self.store
        later: Sequence[int] = []
        if store.end > end:  # rows that arrived while we computed
            later = self.view_spec().since(store, end)
            if self.search_q is not None and not self.search_q.empty:
                hits = hits + search_hits(store, self.search_q, later)
        self._view_busy = None
        self._search_hits = hits
        pane = self.pane
        pane.search = self.search_q
        pane.set_layout(layout, self.view_spec())
        pane.add_rows(later)  # even none: every row so far has been seen
        pane.new_lines = 0
        self.refresh_chrome()

    # --- chrome -----------------------------------------------------------------

    def refresh_chrome(self) -> None:
        if not self.is_running:
            return  # a tick while the app shuts down: the widgets are being removed
        self._refresh_title()
        self._refresh_status()
        self._refresh_tabs()
        tree = self.query_one(SourceTree)
        tree.refresh_labels(
            self.states,
            self.store.counts,
            self.store.pod_counts,
            self.pod_states,
            self.included,
            sum(self.store.counts.values()),
        )

    def _refresh_title(self) -> None:
        counts: dict[State, int] = {}
        for spec in self.specs:
            st = self.states.get(spec.name)
            state = st.state if st else State.CONNECTING
            counts[state] = counts.get(state, 0) + 1
        parts = [f"{len(self.specs)} source{'s' if len(self.specs) != 1 else ''}"]
        title = Text.assemble(("logview", "bold"), " ─ ", parts[0])
        styles = {
            State.LIVE: "green",
            State.RECONNECTING: "yellow",
            State.FAILED: "red",
            State.ENDED: "dim",
            State.CONNECTING: "dim",
        }
        for state in (State.LIVE, State.RECONNECTING, State.FAILED, State.ENDED, State.CONNECTING):
            n = counts.get(state)
            if not n:
                continue
            label = f"{n} {state}"
            if state is State.RECONNECTING:
                waits = [
                    st.ts.timestamp() + (st.delay or 0) - time.time()
                    for st in self.states.values()
                    if st.state is State.RECONNECTING
                ]
                if waits:
                    label += f" ({max(0, int(min(waits) + 0.99))}s)"
            title.append(" · ")
            title.append(label, style=styles[state])
        self._set_chrome_text("#title", title)
        self._set_chrome_text("#clock", Text(self._clock().strftime("%H:%M:%S")))

    def _refresh_status(self) -> None:
        pane = self.pane
        left = Text()
        if self._view_busy is not None and time.monotonic() - self._view_busy > 0.1:
            left.append("filtering… ", style="bold yellow")
        if self.filter_q is not None and not self.filter_q.empty:
            left.append("filter ", style="bold")
            left.append(self.filter_q.text + "  ")
        if self.min_level is not None:
            left.append(f"level:{self.min_level.name.lower()}+  ", style="bold")
        if self.search_q is not None and not self.search_q.empty:
            left.append("search ", style="bold")
            left.append(self.search_q.text + " ")
            n = len(self._search_hits)
            pos = f"{self._hit + 1} of {n:,}" if self._hit is not None and n else f"{n:,} matches"
            left.append(pos + "  ", style="bold" if n else "red")
        shown = len(pane.lines)
        total = len(self.store)
        left.append(f"{shown:,} of {total:,} lines" if shown != total else f"{total:,} lines", style="dim")
        if self.store.evicted:
            left.append(f"  ({self.store.evicted:,} oldest dropped)", style="dim")
        focus = self.focus_source
        if focus:
            st = self.states.get(focus)
            if st and st.state in (State.FAILED, State.RECONNECTING):
                left.append(f"  {focus}: {st.message}", style="red" if st.state is State.FAILED else "yellow")
        right = Text()
        if pane.wrap:
            right.append("wrap ", style="dim")
        if pane.follow:
            right.append("● follow", style="green")
        else:
            if pane.new_lines:
                right.append(f"{pane.new_lines:,} new lines ↓ ", style="bold yellow")
            right.append("paused (F follows)", style="yellow")
        self.query_one(StatusLine).show(left, right)

    def _set_chrome_text(self, selector: str, text: Text) -> None:
        """Update a one-line Static only when its text changed, and lay the
        screen out again only when its width may have: a relayout repaints every
        widget, which under a flood would happen on every tick."""
        key = (text.plain, tuple(text.spans))
        shown = self._chrome_shown.get(selector)
        if shown == key:
            return
        self._chrome_shown[selector] = key
        fixed = selector == "#title"  # 1fr wide: the width never depends on the text
        same_width = shown is not None and len(shown[0]) == len(text.plain) and text.cell_len == len(text.plain)
        self.query_one(selector, Static).update(text, layout=not (fixed or same_width))

    def _shown_sources(self) -> set[str]:
        return {self.focus_source} if self.focus_source else set(self.included)

    def _refresh_tabs(self) -> None:
        tabs = self.query_one("#pods", Tabs)
        shown = self._shown_sources()
        pods = sorted({pod for (src, pod) in self.store.pod_counts if src in shown})
        tabs.set_class(not pods, "hidden")
        for pod in pods:
            label = pod_label(pod) + (
                " ✝" if any(self.pod_states.get((s, pod)) is State.POD_GONE for s in shown) else ""
            )
            tab_id = self._pod_tab_ids.get(pod)
            if tab_id is None:
                tab_id = f"tab-{len(self._pod_tab_ids) + 1}"
                self._pod_tab_ids[pod] = tab_id
                self._tab_pods[tab_id] = pod
                tabs.add_tab(Tab(label, id=tab_id))
            else:
                try:
                    tab = tabs.query_one(f"#{tab_id}", Tab)
                except Exception:
                    tabs.add_tab(Tab(label, id=tab_id))
                    continue
                if str(tab.label) != label:
                    tab.label = label
        for pod, tab_id in list(self._pod_tab_ids.items()):
            if pod not in pods:
                tabs.remove_tab(tab_id)
                del self._pod_tab_ids[pod]
                del self._tab_pods[tab_id]

    # --- events from widgets ------------------------------------------------------

    @on(Tabs.TabActivated, "#pods")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        pod = self._tab_pods.get(event.tab.id or "", None)
        if pod != self.pod:
            self.pod = pod
            self.recompute_view()

    @on(SourceTree.Chosen)
    def _source_chosen(self, event: SourceTree.Chosen) -> None:
        ref: NodeRef = event.ref
        if ref.kind == "all":
            self.focus_source, pod = None, None
        else:
            self.focus_source, pod = ref.source, ref.pod
            st = self.states.get(ref.source or "")
            if st is not None and st.state is State.FAILED:
                self.notify(f"{ref.source}: {st.message}\n(r retries)", severity="error", timeout=8)
        self.pod = pod
        tabs = self.query_one("#pods", Tabs)
        self._refresh_tabs()
        tab_id = self._pod_tab_ids.get(pod) if pod else "tab-all"
        if tab_id:
            tabs.active = tab_id
        self.recompute_view()

    @on(SourceTree.ToggleInclude)
    def _toggle_include(self, event: SourceTree.ToggleInclude) -> None:
        if event.source in self.included:
            self.included.discard(event.source)
        else:
            self.included.add(event.source)
        self.recompute_view()
        self.refresh_chrome()

    @on(SourceTree.Retry)
    def _retry(self, event: SourceTree.Retry) -> None:
        self.retry_source(event.source)

    @on(QueryBar.Applied)
    def _query_applied(self, event: QueryBar.Applied) -> None:
        try:
            now = self._clock().astimezone()  # clock times in a query are the viewer's, like the pane's
            q = compile_query(event.text, now=now, tz=now.tzinfo or UTC) if event.text else None
        except QueryError:
            return
        bar = self.query_one(QueryBar)
        bar.close()
        self.pane.focus()
        if event.mode == "filter":
            self.filter_q = q
        else:
            self.search_q = q
            self._hit = None
        self.recompute_view()
        if event.mode == "search" and q is not None:
            self.call_after_refresh(self._first_hit)

    def _first_hit(self) -> None:
        if self._view_busy is not None:
            self.set_timer(0.05, self._first_hit)
            return
        self.action_next_match(-1 if self.pane.follow else 1)

    @on(QueryBar.Cancelled)
    def _query_cancelled(self, event: QueryBar.Cancelled) -> None:
        self.query_one(QueryBar).close()
        self.pane.focus()

    @on(LogPane.FollowChanged)
    def _follow_changed(self) -> None:
        self._refresh_status()

    # --- actions ---------------------------------------------------------------------

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_open_query(self, mode: str) -> None:
        current = self.filter_q if mode == "filter" else self.search_q
        self.query_one(QueryBar).open(mode, current.text if current else "")

    def action_clear_query(self) -> None:
        if self.search_q is not None:
            self.search_q = None
            self._search_hits = []
            self._hit = None
            self.pane.search = None
            self.pane.rerender()
        elif self.filter_q is not None:
            self.filter_q = None
            self.recompute_view()
        self._refresh_status()

    def action_next_match(self, step: int) -> None:
        hits = self._search_hits
        if not hits:
            if self.search_q is not None:
                self.notify("no matches", severity="warning", timeout=2)
            return
        pane = self.pane
        store = self.store

        def shown_at(row: int) -> tuple[float, int]:
            return store.ts[row - store.first], row  # the pane's order: time, then arrival

        hits = self._search_hits = sorted((r for r in hits if r >= store.first), key=shown_at)
        if not hits:
            return
        cur = pane.cursor_row
        if self._hit is None or cur is None or self._hit >= len(hits) or hits[self._hit] != cur:
            # start from the cursor: the first match after (or before) it; following, from past the end
            pivot = (float("inf"), 0) if pane.follow or cur is None else shown_at(cur)
            i = (
                bisect.bisect_right(hits, pivot, key=shown_at)
                if step > 0
                else bisect.bisect_left(hits, pivot, key=shown_at) - 1
            )
        else:
            i = self._hit + step
        i %= len(hits)
        self._hit = i
        pane.jump_to_row(hits[i])
        self._refresh_status()

    def action_follow(self) -> None:
        self.pane.follow = True

    def action_cycle_time(self) -> None:
        pane = self.pane
        mode = TIME_MODES[(TIME_MODES.index(pane.time_mode) + 1) % len(TIME_MODES)]
        if pane.wrap:  # re-wrapping every row: off the UI thread
            pane.set_reactive(LogPane.time_mode, mode)
            self.recompute_view()
        else:
            pane.time_mode = mode
        self.notify(f"time: {pane.time_mode}", timeout=1.5)

    def action_toggle_wrap(self) -> None:
        pane = self.pane
        pane.set_reactive(LogPane.wrap, not pane.wrap)  # the layout is rebuilt off the UI thread
        pane.pan = 0
        self.recompute_view()
        self._refresh_status()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        self._sidebar_user = sidebar.has_class("hidden")
        self._apply_sidebar_visibility()
        if self._sidebar_user:
            sidebar.focus()
        else:
            self.pane.focus()

    def action_cycle_level(self) -> None:
        i = LEVEL_CYCLE.index(self.min_level)
        self.min_level = LEVEL_CYCLE[(i + 1) % len(LEVEL_CYCLE)]
        self.notify(f"minimum level: {self.min_level.name if self.min_level else 'all'}", timeout=1.5)
        self.recompute_view()

    def _focused_event(self) -> LogEvent | None:
        row = self.pane.cursor_row
        if row is None or row not in self.store:
            return None
        return self.store.event(row)

    def action_details(self) -> None:
        ev = self._focused_event()
        if ev is not None:
            self.push_screen(DetailScreen(ev))

    def action_copy(self) -> None:
        ev = self._focused_event()
        if ev is None:
            return
        from logview.text import strip_sgr

        self.copy_to_clipboard(strip_sgr(ev.message))
        self.notify("copied the focused line (OSC 52)", timeout=2)

    def action_tab(self, step: int) -> None:
        tabs = self.query_one("#pods", Tabs)
        if step > 0:
            tabs.action_next_tab()
        else:
            tabs.action_previous_tab()

    def action_tab_number(self, n: int) -> None:
        tabs = self.query_one("#pods", Tabs)
        all_tabs = list(tabs.query(Tab))
        if 0 < n <= len(all_tabs) and all_tabs[n - 1].id:
            tabs.active = all_tabs[n - 1].id or ""

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in (
            ("Search", "Highlight matches, keep every line (/)", lambda: self.action_open_query("search")),
            ("Filter", "Keep only matching lines (f)", lambda: self.action_open_query("filter")),
            ("Clear search or filter", "Esc", self.action_clear_query),
            ("Follow", "Stick to the newest line (F)", self.action_follow),
            ("Cycle time format", "absolute / relative / off (t)", self.action_cycle_time),
            ("Toggle wrap", "Wrap long lines (w)", self.action_toggle_wrap),
            ("Toggle sources sidebar", "(s)", self.action_toggle_sidebar),
            ("Cycle minimum level", "(l)", self.action_cycle_level),
            ("Event details", "All fields of the focused event (Enter)", self.action_details),
            ("Copy focused line", "To the clipboard via OSC 52 (y)", self.action_copy),
            ("Keys and query language", "(?)", self.action_help),
        ):
            yield SystemCommand(title, help_text, action)
        for spec in self.specs:
            st = self.states.get(spec.name)
            if st is not None and st.state in (State.FAILED, State.ENDED):
                yield SystemCommand(f"Retry {spec.name}", st.message, lambda n=spec.name: self.retry_source(n))


def search_hits(store: LogStore, query: Query, rows: Sequence[int]) -> list[int]:
    """The rows a search finds. Markers pass filters (they carry news) but never match a search."""
    first, kind = store.first, store.kind
    return [r for r in query.filter(store, rows) if kind[r - first] != MARKER]


def _reattach_stdin(specs: list[Any]) -> None:
    """Logs on stdin: read them from a copy of fd 0 and give the terminal back to the UI."""
    if not any(s.provider == "stdin" for s in specs) or sys.stdin.isatty():
        return
    from logview.providers import local

    local.STDIN_FD = os.dup(0)
    try:
        tty = os.open("/dev/tty", os.O_RDONLY)
    except OSError:
        return
    os.dup2(tty, 0)
    os.close(tty)


def run_app(specs: list[Any], settings: Settings, theme: str | None = None) -> int:
    from logview.providers.local import FileProvider

    # the pane orders rows by time, so a file can show its end first; `logview tail` keeps file order
    FileProvider.tail_first = True
    FileProvider.max_lines = settings.max_lines
    _reattach_stdin(specs)
    app = LogviewApp(specs, settings, theme=theme)
    app.run()
    return app.return_code or 0
