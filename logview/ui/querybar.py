"""The search/filter bar: one input, two modes, a history, inline errors."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label

from logview.query import QueryError, compile_query


class QueryInput(Input):
    BINDINGS = [
        Binding("up", "history(-1)", "Older query", show=False),
        Binding("down", "history(1)", "Newer query", show=False),
        Binding("escape", "cancel", "Close", show=False),
    ]

    def action_history(self, step: int) -> None:
        bar = self.parent
        if isinstance(bar, QueryBar):
            bar.step_history(step)

    def action_cancel(self) -> None:
        bar = self.parent
        if isinstance(bar, QueryBar):
            bar.post_message(QueryBar.Cancelled(bar.mode))


class QueryBar(Horizontal):
    """`/` opens it in search mode, `f` in filter mode; Enter applies."""

    DEFAULT_CSS = """
    QueryBar { height: 1; display: none; background: $panel; }
    QueryBar.open { display: block; }
    QueryBar #mode { width: auto; padding: 0 1; background: $primary; color: $background; text-style: bold; }
    QueryBar Input { border: none; height: 1; padding: 0 1; background: $panel; width: 1fr; }
    QueryBar #error { width: auto; max-width: 60%; color: $error; padding: 0 1; }
    """

    class Applied(Message):
        def __init__(self, mode: str, text: str) -> None:
            super().__init__()
            self.mode = mode
            self.text = text

    class Cancelled(Message):
        def __init__(self, mode: str) -> None:
            super().__init__()
            self.mode = mode

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = "search"
        self.history: list[str] = []
        self._hist_pos = 0

    def compose(self) -> ComposeResult:
        yield Label("search", id="mode")
        yield QueryInput(
            placeholder='words  "phrase"  /regex/  -exclude  level:warn  source:x  pod:x  since:10m', id="query"
        )
        yield Label("", id="error")

    def open(self, mode: str, text: str = "") -> None:
        self.mode = mode
        self.query_one("#mode", Label).update("filter" if mode == "filter" else "search")
        inp = self.query_one(QueryInput)
        inp.value = text
        inp.cursor_position = len(text)
        self.query_one("#error", Label).update("")
        self.add_class("open")
        self._hist_pos = len(self.history)
        inp.focus()

    def close(self) -> None:
        self.remove_class("open")

    def show_error(self, message: str) -> None:
        self.query_one("#error", Label).update(message)

    def step_history(self, step: int) -> None:
        if not self.history:
            return
        self._hist_pos = max(0, min(len(self.history), self._hist_pos + step))
        inp = self.query_one(QueryInput)
        inp.value = self.history[self._hist_pos] if self._hist_pos < len(self.history) else ""
        inp.cursor_position = len(inp.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        try:
            compile_query(event.value)
        except QueryError as e:
            self.show_error(f"{e.message} (at {e.position + 1})")
        else:
            self.show_error("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        try:
            compile_query(text)
        except QueryError as e:
            self.show_error(f"{e.message} (at {e.position + 1})")
            return
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self.post_message(self.Applied(self.mode, text))
