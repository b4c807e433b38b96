"""The status line: what is shown on the left, follow state on the right, in one widget.

One widget of a fixed width (the screen's), so a new text never changes the
layout: with the right part a widget of its own, sized to its text, every key
that paused or resumed following, and every "N new lines" that gained a
digit, laid the whole screen out again, and under a flood that was most of a
key's latency.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def fit(left: Text, right: Text, width: int) -> Text:
    """`left`, then `right` flush with the right edge of `width` cells; `left`
    is cut (with an ellipsis) when both do not fit, and `right` too when it
    alone does not. Width 0 (not laid out yet): both, two spaces apart."""
    gap = 2 if left.cell_len and right.cell_len else 0
    if width <= 0:
        return Text.assemble(left, " " * gap, right)
    if right.cell_len > width:
        right = right.copy()
        right.truncate(width, overflow="ellipsis")
        return right
    room = width - right.cell_len - gap
    if left.cell_len > room:
        left = left.copy()
        if room < 2:  # not even a character and the ellipsis: the right part alone
            left = Text()
        else:
            left.truncate(room, overflow="ellipsis")
    return Text.assemble(left, " " * (width - left.cell_len - right.cell_len), right)


class StatusLine(Static):
    """`show(left, right)`; re-fits itself when its width changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, markup=False)
        self._parts = (Text(), Text())
        self._shown: tuple[str, tuple[object, ...]] | None = None

    def show(self, left: Text, right: Text) -> None:
        self._parts = (left, right)
        self._paint()

    def on_resize(self) -> None:
        self._paint()

    def _paint(self) -> None:
        text = fit(*self._parts, self.content_size.width)
        key = (text.plain, tuple(text.spans))
        if key != self._shown:
            self._shown = key
            self.update(text, layout=False)  # as wide as the screen, whatever the text: never a relayout
