"""Specification of the SSE decoder, and a differential test against httpx-sse."""

from __future__ import annotations

import codecs
import itertools
from collections.abc import AsyncIterator

from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from httpx_sse._decoders import SSELineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from logview.sse import TRUNCATED_MARK, SSEDecoder, SSEvent, aiter_sse

FAST = settings(max_examples=200, deadline=None)

Triple = tuple[str, str, str | None]


def decode(*chunks: bytes, max_line: int | None = None) -> list[SSEvent]:
    dec = SSEDecoder() if max_line is None else SSEDecoder(max_line=max_line)
    out: list[SSEvent] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    out += dec.flush()
    return out


def datas(events: list[SSEvent]) -> list[str]:
    return [e.data for e in events]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


# --- framing ----------------------------------------------------------------------


def test_a_leading_bom_is_skipped_so_the_first_event_survives() -> None:
    assert datas(decode(b"\xef\xbb\xbfdata: first\n\ndata: second\n\n")) == ["first", "second"]


def test_a_bom_split_across_chunks_is_still_skipped() -> None:
    assert datas(decode(b"\xef", b"\xbb", b"\xbfdata: first\n\n")) == ["first"]


def test_only_one_leading_bom_is_skipped() -> None:
    # The second BOM belongs to the field name, which is then unknown.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []


def test_lf_crlf_and_cr_all_end_lines() -> None:
    for eol in (b"\n", b"\r\n", b"\r"):
        stream = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
        assert datas(decode(stream)) == ["a\nb", "c"], eol


def test_a_cr_at_a_chunk_end_pairs_with_an_lf_starting_the_next_chunk() -> None:
    assert datas(decode(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")) == ["a\nb"]


def test_a_cr_ending_the_stream_ends_its_line() -> None:
    assert datas(decode(b"data: a\n\r")) == ["a"]


def test_a_partial_event_at_the_end_of_the_stream_is_dropped() -> None:
    assert datas(decode(b"data: a\n\ndata: b\n")) == ["a"]


# --- fields -----------------------------------------------------------------------


def test_comments_and_heartbeats_yield_no_events() -> None:
    assert decode(b": ping\n\n:\n\nid: 4\n\n: keep-alive\n\n") == []


def test_a_comment_inside_an_event_is_ignored() -> None:
    assert datas(decode(b"data: a\n: note\ndata: b\n\n")) == ["a\nb"]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert datas(decode(b"data: line 1\ndata: line 2\ndata:\ndata: line 4\n\n")) == ["line 1\nline 2\n\nline 4"]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert datas(decode(b"data:  two spaces\n\ndata:none\n\n")) == [" two spaces", "none"]


def test_a_field_without_colon_has_an_empty_value() -> None:
    assert datas(decode(b"data\ndata\n\n")) == ["\n"]


def test_a_single_empty_data_line_is_an_event_with_empty_data() -> None:
    assert decode(b"data:\n\n") == [SSEvent("message", "", None, None)]


def test_a_block_without_data_yields_no_event() -> None:
    assert decode(b"event: ping\n\nretry: 10\n\n") == []


def test_event_type_defaults_to_message_and_resets_after_each_event() -> None:
    events = decode(b"event: log\ndata: a\n\ndata: b\n\n")
    assert [(e.event, e.data) for e in events] == [("log", "a"), ("message", "b")]


def test_unknown_fields_are_ignored() -> None:
    assert datas(decode(b"foo: bar\nDATA: shout\ndata: ok\n\n")) == ["ok"]


def test_retry_takes_ascii_digits_only() -> None:
    dec = SSEDecoder()
    events = dec.feed(b"retry: 3000\ndata: a\n\n")
    assert events[0].retry == 3000 and dec.retry == 3000
    for bad in (b"+5", b"-3", b" 5", b"5s", b"1_000", "\u0663".encode(), b"", b"9" * 5000):
        events = dec.feed(b"retry: " + bad + b"\ndata: b\n\n")
        assert events[0].retry is None, bad
        assert dec.retry == 3000, bad


def test_id_persists_across_events() -> None:
    dec = SSEDecoder()
    events = dec.feed(b"id: 7\ndata: a\n\ndata: b\n\n")
    assert [e.id for e in events] == ["7", "7"]
    assert dec.last_id == "7"


def test_an_id_containing_nul_is_ignored() -> None:
    dec = SSEDecoder()
    events = dec.feed(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]
    assert dec.last_id == "1"


def test_an_empty_id_clears_the_last_id() -> None:
    dec = SSEDecoder()
    events = dec.feed(b"id: 1\ndata: a\n\nid\ndata: b\n\n")
    assert [e.id for e in events] == ["1", ""]
    assert dec.last_id == ""


def test_an_id_only_block_moves_the_last_id_without_an_event() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"id: 9\n\n") == []
    assert dec.last_id == "9"


def test_the_id_of_an_event_cut_off_before_its_blank_line_is_not_the_last_id() -> None:
    # Resuming from "2" would skip event 2, which never arrived.
    dec = SSEDecoder()
    dec.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    dec.flush()
    assert dec.last_id == "1"


def test_after_flush_the_decoder_reads_a_new_connection_keeping_id_and_retry() -> None:
    dec = SSEDecoder()
    dec.feed(b"retry: 500\nid: 1\ndata: a\n\ndata: partial")
    dec.flush()
    events = dec.feed(b"\xef\xbb\xbfdata: b\n\n")
    assert [(e.data, e.id) for e in events] == [("b", "1")]
    assert dec.retry == 500


# --- robustness -----------------------------------------------------------------


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert datas(decode(b"data: caf\xc3 \xff\xfe ok\n\ndata: next\n\n")) == ["caf\ufffd \ufffd\ufffd ok", "next"]


def test_a_character_split_across_chunks_is_decoded_whole() -> None:
    assert datas(decode(b"data: caf\xc3", b"\xa9\n\n")) == ["café"]


def test_a_line_longer_than_max_line_is_cut_marked_and_the_stream_goes_on() -> None:
    stream = b"data: " + b"x" * 100 + b"\nid: 5\n\ndata: next\n\n"
    events = decode(stream, max_line=16)
    assert [(e.data, e.id) for e in events] == [("x" * 10 + TRUNCATED_MARK, "5"), ("next", "5")]


def test_a_long_line_arriving_in_small_chunks_is_cut_the_same_way() -> None:
    stream = b"data: " + b"x" * 100 + b"\nid: 5\n\ndata: next\n\n"
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    assert decode(*chunks, max_line=16) == decode(stream, max_line=16)


def test_a_cut_never_splits_a_utf8_character() -> None:
    events = decode(b"data: " + "é".encode() * 20 + b"\n\n", max_line=11)
    assert events[0].data == "éé" + TRUNCATED_MARK


def test_a_cut_id_line_does_not_become_the_last_id() -> None:
    dec = SSEDecoder(max_line=8)
    dec.feed(b"id: 123456789\ndata: a\n\n")
    assert dec.last_id is None


# --- chunking invariance --------------------------------------------------------

SAMPLE = (
    "\ufeffretry: 1500\r\nid: 2026-06-01T12:05:04Z/000000000042\r\nevent: log\r\n"
    'data: {"line": "café ✓", "ts": "2026-06-01T12:05:04Z"}\r\n\r\n'
    ": heartbeat\n\ndata: a\rdata: b\r\rid: 43\ndata: x\n\n"
).encode()


def test_splitting_the_sample_at_every_byte_gives_the_same_events() -> None:
    whole = decode(SAMPLE)
    assert len(whole) == 3
    for i in range(len(SAMPLE) + 1):
        assert decode(SAMPLE[:i], SAMPLE[i:]) == whole, i


def test_feeding_one_byte_at_a_time_gives_the_same_events() -> None:
    assert decode(*[SAMPLE[i : i + 1] for i in range(len(SAMPLE))]) == decode(SAMPLE)


_VALUE = st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=12)
_DATA = st.one_of(_VALUE.map(lambda v: "data: " + v), _VALUE.map(lambda v: "data:" + v), st.just("data"))
_FIELD = st.one_of(
    _DATA,
    st.sampled_from(["log", "end", "", "error"]).map(lambda v: "event: " + v),
    st.one_of(_VALUE, st.just("a\x00b")).map(lambda v: "id: " + v),
    st.text("0123456789", min_size=1, max_size=6).map(lambda v: "retry: " + v),
    st.sampled_from(["foo: bar", "Data: x", " data: y", "data : z", "idx: 1"]),
)
_EOL = st.sampled_from(["\n", "\r\n", "\r"])


def _lines(field: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.tuples(field, _EOL).map("".join), max_size=max_size).map("".join)


_BLOCK = st.tuples(_lines(_FIELD, 4), _EOL).map("".join)
_STREAM = st.tuples(st.lists(_BLOCK, min_size=1, max_size=8).map("".join), _lines(_FIELD, 2)).map("".join)
"""Event streams without comments, BOM or signed retry: where httpx-sse is right."""


_ODD_LINE = st.sampled_from([": hb", ":", "retry: +5", "\ufeffdata: x"])
_ANY_STREAM = st.tuples(
    st.sampled_from([b"", b"\xef\xbb\xbf"]),
    st.lists(st.tuples(_lines(st.one_of(_FIELD, _ODD_LINE), 4), _EOL).map("".join), max_size=8).map(
        lambda blocks: "".join(blocks).encode()
    ),
    st.sampled_from([b"", b"data: caf\xc3\n", b"data: \xff\xfe\n\n", b"id: \xe2\x82\n\n", b"data: x"]),
).map(b"".join)
"""Anything a server might send, comments, BOMs, bad bytes and a ragged tail included."""


@FAST
@given(_ANY_STREAM, st.data())
def test_any_chunking_gives_the_same_events_as_one_chunk(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert decode(*split_at(stream, cuts)) == decode(stream)


@FAST
@given(_ANY_STREAM, st.data(), st.integers(1, 12))
def test_any_chunking_cuts_long_lines_the_same_way(stream: bytes, data: st.DataObject, max_line: int) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert decode(*split_at(stream, cuts), max_line=max_line) == decode(stream, max_line=max_line)


# --- differential: httpx-sse as the reference ------------------------------------


def httpx_sse_events(chunks: list[bytes]) -> list[Triple]:
    """What httpx-sse's own pipeline (aiter_text -> line decoder -> SSE decoder) yields."""
    text_dec = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines_dec, sse = SSELineDecoder(), HttpxSSEDecoder()
    lines: list[str] = []
    for chunk in chunks:
        text = text_dec.decode(chunk)
        if text:
            lines += lines_dec.decode(text)
    lines += lines_dec.flush()
    out: list[Triple] = []
    for line in lines:
        ev = sse.decode(line)
        if ev is not None and ev.data:
            out.append((ev.event, ev.data, ev.id))
    return out


@FAST
@given(_STREAM, st.data())
def test_events_match_httpx_sse_where_httpx_sse_is_right(stream: str, data: st.DataObject) -> None:
    raw = stream.encode()
    chunks = split_at(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    ours = [(e.event, e.data, e.id or "") for e in decode(*chunks) if e.data]
    assert ours == httpx_sse_events(chunks)


def test_the_differential_reference_sees_real_events() -> None:
    chunks = [b"id: 1\nevent: log\ndata: a\n\ndata: b\r\n\r\n"]
    assert httpx_sse_events(chunks) == [("log", "a", "1"), ("message", "b", "1")]


# --- aiter_sse --------------------------------------------------------------------


async def test_aiter_sse_yields_events_from_async_chunks() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"id: 1\nda", b"ta: a\n\ndata: b\n", b"\n"):
            yield part

    dec = SSEDecoder()
    events = [e async for e in aiter_sse(chunks(), dec)]
    assert [(e.data, e.id) for e in events] == [("a", "1"), ("b", "1")]
    assert dec.last_id == "1"


# --- the whole-frame fast path ------------------------------------------------------------

_COMMON = st.tuples(_VALUE, _VALUE).map(lambda iv: f"id: {iv[0]}\ndata: {iv[1]}\n\n")
"""The frame the decoder reads whole: `id: X`, `data: Y`, blank line."""
_NEAR = st.sampled_from(
    [
        "id: 1\ndata: a\ndata: b\n\n",
        "id: 1\nevent: x\ndata: a\n\n",
        "id:1\ndata: a\n\n",
        "id: 1\ndata:a\n\n",
        "id: a\x00b\ndata: a\n\n",
        "data: a\nid: 2\n\n",
        "event: log\n",
        "id: 3\n",
        "retry: 10\n",
        ": hb\n",
        "\n",
        "id: 4\ndata: \n\n",
        "id: 5\r\ndata: x\r\n\r\n",
        "id: 6\ndata: x\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_COMMON, _COMMON, _NEAR), max_size=12).map("".join), st.data(), st.integers(1, 40))
def test_whole_frames_decode_as_the_line_by_line_path_does(stream: str, data: st.DataObject, max_line: int) -> None:
    raw = stream.encode()
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=4))
    for limit in (None, max_line):
        chunked = SSEDecoder(max_line=limit) if limit else SSEDecoder()
        got = [e for c in split_at(raw, cuts) for e in chunked.feed(c)]
        byte_wise = SSEDecoder(max_line=limit) if limit else SSEDecoder()  # one line at a time: never whole frames
        want = [e for i in range(len(raw)) for e in byte_wise.feed(raw[i : i + 1])]
        assert got == want
        assert (chunked.last_id, chunked.retry) == (byte_wise.last_id, byte_wise.retry)


_RAW_VALUE = st.binary(max_size=10).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
_RAW_COMMON = st.tuples(_RAW_VALUE, _RAW_VALUE).map(lambda iv: b"id: " + iv[0] + b"\ndata: " + iv[1] + b"\n\n")
"""Whole frames with any bytes in them: bad UTF-8, NUL, cut characters."""


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_RAW_COMMON, _RAW_COMMON, _NEAR.map(str.encode)), max_size=12).map(b"".join), st.data())
def test_runs_of_frames_with_any_bytes_decode_as_one_frame_at_a_time_does(raw: bytes, data: st.DataObject) -> None:
    """A run of whole frames is decoded as one piece of text: each id and data must still come out as alone."""
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=4))
    chunked = SSEDecoder()
    got = [e for c in split_at(raw, cuts) for e in chunked.feed(c)]
    byte_wise = SSEDecoder()
    want = [e for i in range(len(raw)) for e in byte_wise.feed(raw[i : i + 1])]
    assert got == want
    assert chunked.last_id == byte_wise.last_id


def test_a_run_of_frames_keeps_each_bad_byte_to_its_own_field() -> None:
    events = decode(b"id: 1\xe2\ndata: \xe2\x82\n\nid: 2\ndata: ok \xff\n\nid: \xf0\x9f\x98\x80\ndata: \xc3\xa9\n\n")
    assert [(e.id, e.data) for e in events] == [("1\ufffd", "\ufffd"), ("2", "ok \ufffd"), ("😀", "é")]
