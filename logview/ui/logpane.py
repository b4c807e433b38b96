"""The log pane: a ScrollView over the store that renders only visible lines.

Toolong's approach (the Line API, a cache of rendered lines, tail as a
state that any upward scroll switches off) over logview's columnar store:
the pane never holds a widget or a message per line, so a million rows
scroll as smoothly as ten.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from logview.model import Level
from logview.query import Query
from logview.store import MARKER, LogStore
from logview.text import split_leading_ts
from logview.view import Layout, ViewSpec

LEVEL_LABEL = {0: "     ", 5: "TRACE", 10: "DEBUG", 20: "INFO ", 30: "WARN ", 40: "ERROR", 50: "FATAL"}
LEVEL_VAR = {
    5: "level-trace",
    10: "level-debug",
    20: "level-info",
    30: "level-warn",
    40: "level-error",
    50: "level-fatal",
}
SOURCE_COLOURS = ("#5fafff", "#d787ff", "#5fd7d7", "#ffaf5f", "#87d787", "#ff87af", "#afaf5f", "#87afff")
TIME_MODES = ("absolute", "relative", "off")
MAX_DISPLAY = 64 * 1024
"""Characters of one message shown; the rest is cut with a marker (kept in the store)."""
CACHE_SIZE = 4000


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def pod_label(pod: str) -> str:
    """A pod name short enough for a column or a tab: UUIDs by their first 8
    characters (like git hashes), long Kubernetes names by their distinctive
    tail. The full name is in the sidebar tooltip, the details and the tab's
    query (`pod:`)."""
    if _UUID.match(pod):
        return pod[:8]
    if len(pod) > 18:
        parts = pod.split("-")
        tail = parts[-1] if len(parts) > 1 and len(parts[-1]) >= 4 else pod[-12:]
        return "…" + tail[-16:]
    return pod


def origin_label(source: str, pod: str | None, width: int) -> str:
    """`source/pod` in at most `width` cells, giving up the source's tail
    before the pod's: on a pod tab, the pod is what tells rows apart."""
    if not pod or pod == source:
        return source if len(source) <= width else source[: width - 1] + "…"
    short = pod_label(pod)
    full = f"{source}/{short}"
    if len(full) <= width:
        return full
    room = width - len(short) - 2
    if room >= 3:
        return f"{source[:room]}…/{short}"
    return full[: width - 1] + "…"


_LEVEL_WORD = re.compile(r"\[?(?:TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|FATAL|CRITICAL)\]?:?[ \t]+")


def source_colour(index: int) -> str:
    return SOURCE_COLOURS[index % len(SOURCE_COLOURS)]


class LogPane(ScrollView, can_focus=True):
    """Shows `layout.rows` of `store`; follows the end unless scrolled up.

    Every scroll is `force=True`: Textual ignores a scroll while the widget has
    no scrollbar yet (before the layout that adds one), which would leave a
    following pane short of the end when rows arrive in bulk.
    """

    DEFAULT_CSS = """
    LogPane { background: $surface; scrollbar-size-vertical: 1; overflow-x: hidden; }
    LogPane:focus { background-tint: $foreground 2%; }
    """

    BINDINGS = [
        Binding("j,down", "cursor(1)", "Down", show=False),
        Binding("k,up", "cursor(-1)", "Up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("pageup,b", "page(-1)", "Page up", show=False),
        Binding("g,home", "top", "Top", show=False),
        Binding("G,end", "bottom", "Bottom", show=False),
        Binding("left,h", "pan(-8)", "Left", show=False),
        Binding("right", "pan(8)", "Right", show=False),
    ]

    follow: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)
    time_mode: reactive[str] = reactive("absolute")

    class FollowChanged(Message):
        def __init__(self, follow: bool) -> None:
            super().__init__()
            self.follow = follow

    class CursorMoved(Message):
        def __init__(self, row: int | None) -> None:
            super().__init__()
            self.row = row

    def __init__(self, store: LogStore, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.lines = Layout(None, MAX_DISPLAY)
        self._view: ViewSpec | None = None
        """What `lines` shows (None: not said)."""
        self._unfiltered: tuple[ViewSpec, Layout] | None = None
        """While a filter is shown: the layout shown before it, kept up to date
        as rows arrive, to go back to when the filter is cleared instead of
        laying out every row again."""
        self._cursor_row: int | None = None
        """Row id of the focused event; None follows the last. A row id, not an
        index: late rows merged in by timestamp shift indexes, never ids."""
        self.search: Query | None = None
        self.new_lines = 0
        """Rows added below while not following (shown as "N new lines")."""
        self.pan = 0
        """Columns scrolled sideways (when not wrapping)."""
        self._cache: OrderedDict[int, list[Strip]] = OrderedDict()
        self._origin_width = 12
        self._now_bucket = 0
        self._frame_look: tuple[Style, int] | None = None

    # --- data in ------------------------------------------------------------

    def message_width(self) -> int | None:
        if not self.wrap:
            return None
        return max(10, self.size.width - self.prefix_width() - 1)

    def prefix_width(self) -> int:
        time_w = {"absolute": 13, "relative": 8, "off": 0}[self.time_mode]
        return time_w + 6 + self._origin_width + 1

    def build_layout(self, rows: Sequence[int] | range, width: int | None) -> Layout:
        """A layout of `rows` wrapped at `width` (None: not wrapped). Safe in a
        worker thread: it reads the store, not the widget."""
        return Layout.build(self.store, rows, width, MAX_DISPLAY)

    def set_layout(self, layout: Layout, view: ViewSpec | None = None) -> None:
        """Show a ready layout (built by `build_layout`, usually in a worker
        thread, so the screen never waits for a million rows). `view`: what it
        shows; an unfiltered layout that a filtered one of the same view
        replaces is kept up to date for `restore_unfiltered`.

        The cursor's row stays on the same screen line when it is in the new layout."""
        self._keep_unfiltered(layout, view)
        self._view = view
        self._update_origin_width()
        layout.drop_before(self.store.first)
        cursor = self.cursor
        screen_y = None if cursor is None or self.follow else self.lines.offset(cursor) - self.scroll_y
        self.lines = layout
        cursor = self.cursor
        if self.follow or cursor is None:
            self._cursor_row = None
        self.new_lines = 0
        self._cache.clear()
        self._resize_virtual()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        elif cursor is not None and screen_y is not None:
            self.scroll_to(y=max(0, layout.offset(cursor) - screen_y), animate=False, immediate=True, force=True)
        self.refresh()

    def _keep_unfiltered(self, layout: Layout, view: ViewSpec | None) -> None:
        """What to keep for `restore_unfiltered` as `layout` (of `view`) is shown: the
        layout shown now if it is the unfiltered one of the same view and width,
        else what was kept if it still is, and nothing once no filter is shown."""
        kept = self._unfiltered
        if view is None or view.query is None or view.query.empty:
            kept = None
        else:
            base = replace(view, query=None)
            if self._view == base and self.lines.width == layout.width:
                kept = (base, self.lines)
            elif kept is not None and (kept[0] != base or kept[1].width != layout.width):
                kept = None
        self._unfiltered = kept

    def restore_unfiltered(self, view: ViewSpec) -> bool:
        """Show the layout kept from before the filter if it is one of `view`
        (an unfiltered spec) at today's width; False if there is none."""
        if self._unfiltered is None or self._unfiltered[0] != view or self._unfiltered[1].width != self.message_width():
            return False
        self._catch_up_unfiltered()  # with rows that came while a filter was being computed
        self.set_layout(self._unfiltered[1], view)
        return True

    def _catch_up_unfiltered(self) -> None:
        """Bring the layout kept from before the filter up to date with the rows that arrived."""
        if self._unfiltered is None:
            return
        view, layout = self._unfiltered
        store = self.store
        layout.drop_before(store.first)
        layout.add(store, view.since(store, layout.end))
        layout.end = store.end

    def add_rows(self, rows: Sequence[int]) -> None:
        """New rows that qualify for the view, as they arrive: those of every row
        up to the store's end that were not offered yet."""
        self.lines.end = self.store.end
        self._catch_up_unfiltered()
        if not rows:
            return
        if self._update_origin_width():
            self._cache.clear()
        gone = self.lines.drop_before(self.store.first)
        if gone and not self.follow:
            self.scroll_to(y=max(0, self.scroll_y - gone), animate=False, immediate=True, force=True)
            if self._cursor_row is not None and self._cursor_row < self.store.first:
                self._cursor_row = None
        pos = self.lines.add(self.store, rows)
        if pos < len(self.lines) - len(rows):
            self._cache.clear()
        self._resize_virtual(grown=True)
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        else:
            self.new_lines += len(rows)
        self.refresh()

    def _update_origin_width(self) -> bool:
        names = [s for s in self.store.sources] or ["source"]
        longest = max(len(n) for n in names)
        pods = [pod_label(p) for p in self.store.pods if p]
        if pods:
            longest = max(longest, max(len(p) for p in pods) + 1 + longest)
        cap = max(12, min(36, (self.size.width or 120) // 4))
        width = max(8, min(longest, cap))
        changed = width != self._origin_width
        self._origin_width = width
        return changed

    def _resize_virtual(self, grown: bool = False) -> None:
        """Set the scrollable size. `grown`: rows were only added, so only this
        pane and its scrollbar change: they are updated in place instead of
        laying out the whole screen again, which under a flood of lines would
        repaint every widget many times a second. (Textual's own resize path
        does the same; a scrollbar that appears still triggers a layout.)"""
        width = self.size.width if self.wrap else self.prefix_width() + self.lines.max_width + 1
        size = Size(width, self.lines.total_lines)
        if size == self.virtual_size:
            return
        if grown and self.is_mounted and self.size.height and self.virtual_size.height:
            self.set_reactive(LogPane.virtual_size, size)
            self._scroll_update(size)
            self.refresh()
        else:
            self.virtual_size = size

    def rerender(self) -> None:
        """Forget rendered lines (theme, search or time format changed)."""
        self._cache.clear()
        self.refresh()

    # --- reactives ------------------------------------------------------------

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.new_lines = 0
            self.cursor = None
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.post_message(self.FollowChanged(follow))

    def watch_wrap(self, wrap: bool) -> None:
        self.lines.drop_before(self.store.first)
        self.lines = self.lines.rewrapped(self.store, self.message_width())
        self._unfiltered = None  # laid out at the old width
        self._cache.clear()
        if wrap:
            self.pan = 0
        self._resize_virtual()
        if self.follow:  # wrapping changes every row's height: stay at the end
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        else:
            self._keep_cursor_visible()
        self.refresh()

    def watch_time_mode(self, mode: str) -> None:
        if self.wrap:  # the message column's width changed: rows re-wrap
            self.watch_wrap(True)
        else:
            self._resize_virtual()
            self.rerender()

    def on_resize(self, event: events.Resize) -> None:
        if self._update_origin_width():
            self._cache.clear()
        if self.wrap:
            self.watch_wrap(True)
        else:
            self._resize_virtual()
            if self.follow:  # a new height (or the first layout) must still end at the last line
                self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    # --- actions --------------------------------------------------------------

    @property
    def cursor(self) -> int | None:
        """Index of the focused event in `lines.rows` (None: following the last)."""
        return None if self._cursor_row is None else self.lines.index_of(self._cursor_row, self.store)

    @cursor.setter
    def cursor(self, index: int | None) -> None:
        self._cursor_row = (
            None if index is None or not len(self.lines) else self.lines.rows[max(0, min(index, len(self.lines) - 1))]
        )

    @property
    def cursor_row(self) -> int | None:
        """Row id of the focused event (the last one when following)."""
        if not len(self.lines):
            return None
        i = self.cursor if self.cursor is not None else len(self.lines) - 1
        return self.lines.rows[min(i, len(self.lines) - 1)]

    def move_cursor_to(self, index: int) -> None:
        n = len(self.lines)
        if not n:
            return
        index = max(0, min(index, n - 1))
        if index == n - 1 and self.follow:
            return
        self.follow = False
        self.cursor = index
        self._keep_cursor_visible()
        self.refresh()
        self.post_message(self.CursorMoved(self.lines.rows[index]))

    def _keep_cursor_visible(self) -> None:
        cursor = self.cursor
        if cursor is None or not len(self.lines):
            return
        top = self.lines.offset(cursor)
        bottom = self.lines.offset(cursor + 1)
        height = self.scrollable_content_region.height
        if top < self.scroll_y:
            self.scroll_to(y=top, animate=False, immediate=True, force=True)
        elif bottom > self.scroll_y + height:
            self.scroll_to(y=bottom - height, animate=False, immediate=True, force=True)

    def action_cursor(self, delta: int) -> None:
        n = len(self.lines)
        if not n:
            return
        cur = self.cursor if self.cursor is not None else n - 1
        target = cur + delta
        if target >= n - 1 and delta > 0:
            self.cursor = n - 1
            self.follow = True
            return
        self.move_cursor_to(target)

    def action_page(self, direction: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        if direction > 0 and self.scroll_y + height >= self.max_scroll_y:
            self.follow = True
            return
        self.follow = False
        self.scroll_to(y=self.scroll_y + direction * height, animate=False, immediate=True, force=True)
        i, _ = self.lines.locate(int(self.scroll_y) + (height if direction > 0 else 0))
        self.cursor = i
        self.refresh()

    def action_top(self) -> None:
        self.follow = False
        self.cursor = 0
        self.scroll_home(animate=False, immediate=True, force=True)
        self.refresh()

    def action_bottom(self) -> None:
        self.follow = True

    def action_pan(self, delta: int) -> None:
        """Sideways by `delta` columns (no horizontal scrollbar: it costs a row)."""
        if self.wrap:
            return
        limit = max(0, self.prefix_width() + self.lines.max_width + 1 - self.scrollable_content_region.width)
        pan = max(0, min(limit, self.pan + delta))
        if pan != self.pan:
            self.pan = pan
            self.refresh()

    def jump_to_row(self, row: int) -> None:
        i = self.lines.index_of(row, self.store)
        if i is not None:
            self.follow = False
            self.cursor = i
            top = self.lines.offset(i)
            height = self.scrollable_content_region.height
            self.scroll_to(y=max(0, top - height // 3), animate=False, immediate=True, force=True)
            self.refresh()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.follow and self.max_scroll_y > 0:
            self.follow = False
            self.cursor = self.lines.locate(int(self.scroll_y) + self.scrollable_content_region.height - 1)[0]

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if not self.follow and self.scroll_y >= self.max_scroll_y - 1 and self.new_lines == 0 and self.max_scroll_y > 0:
            self.follow = True

    def on_click(self, event: events.Click) -> None:
        line = int(self.scroll_y) + event.y
        if line < self.lines.total_lines:
            i, _ = self.lines.locate(line)
            self.follow = False
            self.cursor = i
            self.refresh()
            self.post_message(self.CursorMoved(self.lines.rows[i]))

    # --- rendering --------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """Every visible line of a frame: the widget's style and width, which
        Textual computes by walking the DOM, are looked up once per frame, not
        once per line."""
        self._frame_look = (self.rich_style, self.scrollable_content_region.width)
        try:
            return super().render_lines(crop)
        finally:
            self._frame_look = None

    def render_line(self, y: int) -> Strip:
        scroll_y = self.scroll_offset.y
        scroll_x = 0 if self.wrap else self.pan
        line = scroll_y + y
        base, width = (
            self._frame_look
            if self._frame_look is not None
            else (self.rich_style, self.scrollable_content_region.width)
        )
        if line >= self.lines.total_lines or not len(self.lines):
            return Strip.blank(width, base)
        i, sub = self.lines.locate(line)
        row = self.lines.rows[i]
        if row < self.store.first:
            return Strip.blank(width, base)
        if self.time_mode == "relative":
            bucket = int(time.time())
            if bucket != self._now_bucket:
                self._now_bucket = bucket
                self._cache.clear()
        strips = self._cache.get(row)
        if strips is None:
            strips = self._render_row(row)
            self._cache[row] = strips
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        strip = strips[sub] if sub < len(strips) else Strip.blank(width, base)
        if not self.wrap and scroll_x:
            strip = strip.crop(scroll_x, scroll_x + width)
        strip = strip.extend_cell_length(width, base).crop(0, width)
        is_cursor = row == self._cursor_row
        if is_cursor:
            strip = strip.apply_style(Style(bgcolor=self._var("log-cursor")))
        return strip

    def _var(self, name: str) -> str:
        return self.app.theme_variables.get(name, "#444444")

    def _render_row(self, row: int) -> list[Strip]:
        store = self.store
        i = row - store.first
        console = self.app.console
        src_ix = store.source[i]
        src_style = Style(color=source_colour(src_ix))
        if store.kind[i] == MARKER:
            text = Text()
            text.append("── ", style=self._var("log-marker"))
            text.append(store.sources[src_ix], style=src_style + Style(italic=True))
            text.append(f": {store.message[i]} ──", style=Style(color=self._var("log-marker"), italic=True))
            return [Strip(list(text.render(console, end="")), text.cell_len)]
        # the columns before the message, as (text, style) pieces: segments as they are
        # for a plain line, a Text for the rest
        get_style = console.get_style
        parts: list[tuple[str, Style]] = []
        ts = store.ts[i]
        if self.time_mode == "absolute":
            parts.append(
                (datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:12] + " ", get_style(self._var("log-time")))
            )
        elif self.time_mode == "relative":
            parts.append((_relative(time.time() - ts).rjust(7) + " ", get_style(self._var("log-time"))))
        lv = store.level[i]
        level_style = Style(color=self._var(LEVEL_VAR[lv]), bold=lv >= 40) if lv else Style()
        ow = self._origin_width
        origin = origin_label(store.sources[src_ix], store.pods[store.pod[i]], ow)
        parts += (
            (LEVEL_LABEL.get(lv, "     "), level_style),
            (" ", _NULL),
            (origin.ljust(ow), src_style),
            (" ", _NULL),
        )
        message = store.message[i]
        if self.time_mode != "off" and message[:1].isdigit():
            # the time column already says it: drop a leading timestamp from view
            ts_in_text, rest = split_leading_ts(message)
            if ts_in_text is not None:
                message = rest
        if lv and message[:1] in "TDIWEFC[":
            # the level column already says it: "WARN  sink: ..." reads as "sink: ..."
            m = _LEVEL_WORD.match(message)
            if m:
                message = message[m.end() :]
        cut = len(message) > MAX_DISPLAY
        if cut:
            message = message[:MAX_DISPLAY]
        elif (
            not _RICH_ONLY
            and "\x1b" not in message
            and "\n" not in message
            and (self.search is None or self.search.empty)
            and self.message_width() is None
        ):
            # The common line (no colours, one line, no highlight, not wrapped) straight
            # to segments: what Rich's Text.render gives for it, at a fraction of the cost.
            # Under a flood this is most of the UI thread's work per frame.
            segments = [Segment(piece, style) for piece, style in parts]
            segments.append(Segment(message, get_style(self._var(LEVEL_VAR[lv])) if lv >= 40 else None))
            return [Strip(Segment.simplify(segments))]
        prefix = Text(no_wrap=True, end="")
        for piece, style in parts:
            prefix.append(piece, style=style)
        body = Text.from_ansi(message, no_wrap=True, end="") if "\x1b" in message else Text(message, end="")
        if cut:
            body.append(
                f" … [{len(store.message[i]) - MAX_DISPLAY:,} more characters; Enter shows all]", style="italic dim"
            )
        if lv >= 40:
            body.stylize(Style(color=self._var(LEVEL_VAR[lv])), 0, len(body))  # existing colours stay on top
            body.spans.insert(0, body.spans.pop())
        if self.search is not None and not self.search.empty:
            match = Style(bgcolor=self._var("log-match"), bold=True)
            for start, end in self.search.highlights(message):
                body.stylize(match, start, end)
        lines: list[Text] = list(body.split("\n", allow_blank=True))
        msg_width = self.message_width()
        if msg_width is not None:
            wrapped: list[Text] = []
            for ln in lines:
                wrapped.extend(ln.wrap(console, msg_width, no_wrap=False) or [Text("")])
            lines = wrapped
        indent = " " * prefix.cell_len
        out = []
        for n, ln in enumerate(lines):
            head = prefix if n == 0 else Text(indent)
            segments = list(head.render(console, end="")) + list(ln.render(console, end=""))
            out.append(Strip(Segment.simplify(segments)))
        return out or [Strip.blank(0)]


_NULL = Style.null()
_RICH_ONLY = False
"""Render every row through Rich (the tests compare the fast path with it)."""


def _relative(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d"


__all__ = ["TIME_MODES", "Level", "LogPane", "source_colour"]
