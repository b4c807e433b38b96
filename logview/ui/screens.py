"""Modal screens: help (keys and the query language) and event details."""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from logview.model import LogEvent
from logview.query import __doc__ as QUERY_DOC
from logview.text import format_ts, strip_sgr

KEYS = """\
 /          search (everything stays, matches highlighted)    n / N   next / previous match
 f  \\       filter (only matching lines stay)                 Esc     clear search / filter
 j k ↑ ↓    move the cursor                                   PgUp PgDn space b   page
 g Home     top                                               G End F  bottom, follow
 ← →        scroll sideways (when not wrapping)               w       wrap long lines
 t          time: absolute / relative / off                   l       cycle minimum level
 s          show / hide the source sidebar                    Enter   details of the event
 1-9 [ ]    pod tabs                                          y       copy the event (OSC 52)
 space      (sidebar) include / exclude a source in All       r       (sidebar) retry a source
 Ctrl+P     command palette: every action, themes             ?       this help     q  quit
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100; max-width: 100%; height: 90%; border: round $primary; background: $panel; padding: 0 1; scrollbar-size-vertical: 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("Keys", style="bold"))
            yield Static(KEYS)
            yield Static(Text("Search and filter language", style="bold"))
            yield Static((QUERY_DOC or "").split("\n\n", 1)[1].rstrip() if QUERY_DOC else "")
            yield Static(Text("Esc closes", style="dim"))


def describe(ev: LogEvent) -> str:
    """All fields of an event as text; JSON messages pretty-printed."""
    lines = [
        f"source    {ev.source} ({ev.provider})",
        f"pod       {ev.pod or '-'}",
        f"stream    {ev.stream or '-'}",
        f"level     {ev.level.name if ev.level else '-'}",
        f"time      {format_ts(ev.ts)}",
        f"seq       {ev.seq if ev.seq is not None else '-'}",
    ]
    for k, v in sorted(ev.fields.items()):
        lines.append(f"{k:<9} {v}")
    lines.append("")
    plain = strip_sgr(ev.message)
    body = plain
    start = plain.find("{")
    if start >= 0:
        try:
            body = plain[:start] + json.dumps(json.loads(plain[start:]), indent=2, ensure_ascii=False)
        except ValueError:
            body = plain
    lines.append(body)
    return "\n".join(lines)


class DetailScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close"), Binding("y", "copy", "Copy")]
    DEFAULT_CSS = """
    DetailScreen { align: center middle; }
    DetailScreen > VerticalScroll { width: 90%; height: 80%; border: round $primary; background: $panel; padding: 0 1; }
    """

    def __init__(self, event: LogEvent) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(describe(self.event)))
            yield Static(Text("Esc closes · y copies", style="dim"))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(strip_sgr(self.event.message))
        self.app.notify("copied the message")
