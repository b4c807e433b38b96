"""The status line's fitting: left text, right text flush right, cut with an ellipsis when too long."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text

from logview.ui.statusline import fit


def test_both_fit_the_right_part_is_flush_with_the_edge() -> None:
    out = fit(Text("1,234 lines"), Text("● follow", style="green"), 30)
    assert out.plain == "1,234 lines" + " " * 11 + "● follow"
    assert out.cell_len == 30
    assert any(str(span.style) == "green" and out.plain[span.start : span.end] == "● follow" for span in out.spans)


def test_a_long_left_part_is_cut_with_an_ellipsis_and_the_right_part_kept() -> None:
    out = fit(Text("flux-dev: wrong API key: set LOGVIEW_DEMO_FAL_KEY"), Text("● follow"), 30)
    assert out.plain == "flux-dev: wrong API…  ● follow"


def test_a_right_part_wider_than_the_line_is_cut_too() -> None:
    out = fit(Text("x"), Text("12,345 new lines ↓ paused (F follows)"), 20)
    assert out.cell_len == 20 and out.plain.startswith("12,345 new lines") and out.plain.endswith("…")


def test_not_laid_out_yet_both_parts_two_spaces_apart() -> None:
    assert fit(Text("a"), Text("b"), 0).plain == "a  b"
    assert fit(Text(""), Text("b"), 0).plain == "b"


def test_wide_characters_count_as_two_cells() -> None:
    out = fit(Text("日本語のログ"), Text("● follow"), 22)  # 12 cells, 2 apart, 8
    assert out.plain == "日本語のログ  ● follow"
    out = fit(Text("日本語のログ"), Text("● follow"), 21)
    assert out.cell_len <= 21 and out.plain.startswith("日本語") and out.plain.endswith("…  ● follow")


@given(st.text(max_size=60), st.text(min_size=1, max_size=30), st.integers(1, 120))
def test_the_line_is_always_exactly_the_width(left: str, right: str, width: int) -> None:
    left_t, right_t = Text(left.replace("\n", " ")), Text(right.replace("\n", " "))
    out = fit(left_t, right_t, width)
    assert out.cell_len <= width
    if right_t.cell_len <= width:
        assert out.cell_len >= width - 1  # a wide character cut at the edge may leave one cell
        assert out.plain.endswith(right_t.plain)
        if left_t.cell_len + 2 + right_t.cell_len <= width:
            assert out.plain.startswith(left_t.plain)
