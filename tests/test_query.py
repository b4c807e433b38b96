"""The filter language: what each term matches, its errors, and a fast filter equal to the plain one."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logview.model import Level, LogEvent, SourceStatus, State
from logview.query import Query, QueryError, compile_query
from logview.store import MARKER, LogStore

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
T0 = NOW - timedelta(hours=1)


def ev(
    message: str,
    *,
    source: str = "api",
    level: Level | None = None,
    pod: str | None = None,
    stream: str | None = None,
    ts: datetime = T0,
) -> LogEvent:
    return LogEvent(source=source, provider="runpod", message=message, ts=ts, level=level, pod=pod, stream=stream)


def store_of(*events: LogEvent) -> LogStore:
    store = LogStore()
    store.extend(events)
    return store


def q(text: str, tz: tzinfo = UTC) -> Query:
    return compile_query(text, now=NOW, tz=tz)


def found(query: str, store: LogStore, tz: tzinfo = UTC) -> list[str]:
    """Messages of the rows the query keeps, in order."""
    return [store.message[r - store.first] for r in q(query, tz).filter(store)]


def words(query: str, *messages: str) -> list[str]:
    return found(query, store_of(*(ev(m) for m in messages)))


def marker(store: LogStore, source: str, text: str, *, pod: str | None = None, ts: datetime = T0) -> int:
    return store.add_marker(SourceStatus(source=source, state=State.GAP, pod=pod, ts=ts), text)


# --- words, phrases, regexes -------------------------------------------------------------


def test_lowercase_word_ignores_case() -> None:
    assert words("timeout", "TIMEOUT hit", "a Timeout", "timeout", "time out") == [
        "TIMEOUT hit",
        "a Timeout",
        "timeout",
    ]


def test_word_with_an_uppercase_letter_matches_case_exactly() -> None:
    assert words("Timeout", "TIMEOUT hit", "a Timeout", "timeout") == ["a Timeout"]


def test_word_matches_inside_a_longer_word() -> None:
    assert words("time", "timeout", "uptime", "tim") == ["timeout", "uptime"]


def test_several_terms_must_all_match() -> None:
    assert words("upload failed", "upload failed", "upload ok", "failed upload", "failed") == [
        "upload failed",
        "failed upload",
    ]


def test_phrase_matches_its_words_together_ignoring_case() -> None:
    assert words('"connection reset"', "Connection Reset by peer", "reset connection", "connection  reset") == [
        "Connection Reset by peer"
    ]


def test_phrase_with_an_uppercase_letter_matches_case_exactly() -> None:
    assert words('"Connection reset"', "Connection reset", "connection reset") == ["Connection reset"]


def test_phrase_unescapes_quotes_inside() -> None:
    assert words(r'"say \"hi\""', 'they say "hi"', "they say hi") == ['they say "hi"']


def test_empty_phrase_is_no_term() -> None:
    assert q('""').empty


def test_regex_uses_python_syntax() -> None:
    assert words(r"/req_\d{3}5\b/", "req_0015 done", "req_00155", "req_015") == ["req_0015 done"]


def test_lowercase_regex_ignores_case() -> None:
    assert words("/time(d )?out/", "TIMED OUT", "Timeout", "time") == ["TIMED OUT", "Timeout"]


def test_regex_with_an_uppercase_letter_matches_case_exactly() -> None:
    assert words("/Time(d )?out/", "TIMED OUT", "Timeout", "timeout") == ["Timeout"]


def test_regex_escapes_do_not_count_as_uppercase() -> None:
    assert words(r"/warn\S*/", "WARNING: disk", "warn", "error") == ["WARNING: disk", "warn"]


def test_regex_i_flag_forces_ignore_case() -> None:
    assert words("/Timeout/i", "TIMEOUT", "timeout", "time") == ["TIMEOUT", "timeout"]


def test_regex_may_contain_spaces() -> None:
    assert words("/upload  ?failed/", "upload failed", "upload  failed", "upload   failed") == [
        "upload failed",
        "upload  failed",
    ]


def test_regex_may_contain_an_escaped_slash() -> None:
    assert words(r"/v1\/gen/", "POST /v1/generate", "v1 gen") == ["POST /v1/generate"]


def test_slash_word_that_is_not_a_complete_regex_is_a_word() -> None:
    assert words("/var/log/app", "open /var/log/app.log", "var log app") == ["open /var/log/app.log"]


def test_url_is_a_word_not_a_key() -> None:
    assert words("http://host/x", "GET http://host/x 200", "GET /x") == ["GET http://host/x 200"]


def test_word_ending_in_a_colon_is_a_word() -> None:
    assert words("warning:", "warning: unused", "warning unused") == ["warning: unused"]


def test_quoted_text_that_looks_like_a_key_is_a_phrase() -> None:
    assert words('"status:500"', "status:500 upstream", "status 500") == ["status:500 upstream"]


def test_lone_dash_is_a_word() -> None:
    assert words("-", "a - b", "ab") == ["a - b"]


def test_excluded_word_removes_lines_that_contain_it() -> None:
    assert words("-health", "GET /health", "GET /run", "HEALTH check") == ["GET /run"]


def test_excluded_phrase_removes_lines_that_contain_it() -> None:
    assert words('-"cache miss"', "cache miss", "cache hit", "miss cache") == ["cache hit", "miss cache"]


def test_excluded_regex_removes_lines_that_match() -> None:
    assert words(r"-/\b5\d\d\b/", "GET / 500", "GET / 200", "5000 ms") == ["GET / 200", "5000 ms"]


def test_word_and_exclusion_combine() -> None:
    assert words("upload -retry", "upload ok", "upload retry", "download") == ["upload ok"]


# --- colours -------------------------------------------------------------------------------


def test_colour_codes_inside_a_word_do_not_break_the_match() -> None:
    assert words("error", "an ERR\x1b[31mOR here", "fine") == ["an ERR\x1b[31mOR here"]


def test_colour_codes_are_not_matched_as_text() -> None:
    assert words("31m", "\x1b[31mred\x1b[0m", "31ms") == ["31ms"]


def test_regex_anchors_see_the_plain_text() -> None:
    assert words("/^error/", "\x1b[1;31merror\x1b[0m: disk", "an error") == ["\x1b[1;31merror\x1b[0m: disk"]


def test_matches_row_ignores_colour_codes_too() -> None:
    store = store_of(ev("up\x1b[32mload\x1b[0m done"))
    assert q("upload").matches_row(store, 0)


# --- levels --------------------------------------------------------------------------------


def level_store() -> LogStore:
    return store_of(*(ev(lv.name if lv else "none", level=lv) for lv in [None, *Level]))


def test_level_means_that_level_and_above() -> None:
    assert found("level:warn", level_store()) == ["WARN", "ERROR", "FATAL"]


@pytest.mark.parametrize("alias", ["warning", "WARN", "wrn"])
def test_level_accepts_aliases(alias: str) -> None:
    assert found(f"level:{alias}", level_store()) == ["WARN", "ERROR", "FATAL"]


def test_level_err_alias_means_error_and_above() -> None:
    assert found("level:err", level_store()) == ["ERROR", "FATAL"]


def test_level_plus_suffix_means_the_same_as_plain() -> None:
    assert found("level:info+", level_store()) == found("level:info", level_store())


def test_level_equals_means_exactly_that_level() -> None:
    assert found("level:=warn", level_store()) == ["WARN"]


def test_level_none_keeps_rows_without_a_level() -> None:
    assert found("level:none", level_store()) == ["none"]


def test_repeated_level_terms_mean_either() -> None:
    assert found("level:=debug level:=error", level_store()) == ["DEBUG", "ERROR"]


def test_excluded_level_removes_that_level_and_above() -> None:
    assert found("-level:info", level_store()) == ["none", "TRACE", "DEBUG"]


def test_level_and_word_combine() -> None:
    store = store_of(ev("disk full", level=Level.ERROR), ev("disk ok", level=Level.INFO), ev("net", level=Level.ERROR))
    assert found("level:error disk", store) == ["disk full"]


# --- sources, pods, streams ------------------------------------------------------------------


def name_store() -> LogStore:
    return store_of(
        ev("a1", source="api-prod", pod="pod-7f9c2", stream="stdout"),
        ev("a2", source="api-prod", pod="pod-11aa0", stream="stderr"),
        ev("w1", source="Worker", pod="pod-7f9c9", stream="stderr"),
        ev("w2", source="Worker", pod=None, stream=None),
        ev("m1", source="my app", pod=None, stream="stdout"),
    )


def test_source_matches_a_substring_of_the_name_in_any_case() -> None:
    assert found("source:WORK", name_store()) == ["w1", "w2"]


def test_pod_matches_a_substring_of_the_pod_name() -> None:
    assert found("pod:7f9c", name_store()) == ["a1", "w1"]


def test_stream_matches_the_stream_name() -> None:
    assert found("stream:stderr", name_store()) == ["a2", "w1"]


def test_same_key_repeated_means_either() -> None:
    assert found("source:api source:my", name_store()) == ["a1", "a2", "m1"]


def test_different_keys_must_all_hold() -> None:
    assert found("source:api stream:stderr", name_store()) == ["a2"]


def test_excluded_source_removes_its_rows() -> None:
    assert found("-source:api", name_store()) == ["w1", "w2", "m1"]


def test_excluded_pod_keeps_rows_without_a_pod() -> None:
    assert found("-pod:7f9c", name_store()) == ["a2", "w2", "m1"]


def test_include_and_exclude_of_one_key_combine() -> None:
    assert found("pod:pod -pod:11aa", name_store()) == ["a1", "w1"]


def test_quoted_name_may_contain_spaces() -> None:
    assert found('source:"my app"', name_store()) == ["m1"]


# --- time ------------------------------------------------------------------------------------


def time_store() -> LogStore:
    """Rows at 12:00, 13:00, 14:00, 14:30, 14:50 UTC on the day of NOW (15:00)."""
    day = NOW.replace(hour=0, minute=0)
    return store_of(
        *(
            ev(f"{h:02d}:{m:02d}", ts=day + timedelta(hours=h, minutes=m))
            for h, m in [(12, 0), (13, 0), (14, 0), (14, 30), (14, 50)]
        )
    )


def test_since_relative_counts_back_from_now() -> None:
    assert found("since:30m", time_store()) == ["14:30", "14:50"]


def test_until_relative_counts_back_from_now() -> None:
    assert found("until:1h", time_store()) == ["12:00", "13:00"]


def test_relative_units_combine() -> None:
    assert found("since:1h30m", time_store()) == ["14:00", "14:30", "14:50"]


def test_relative_time_in_seconds_and_days() -> None:
    assert found("since:600s", time_store()) == ["14:50"] and found("since:1d", time_store()) == found("", time_store())


def test_since_clock_time_is_today_in_utc() -> None:
    assert found("since:14:00", time_store()) == ["14:00", "14:30", "14:50"]


def test_since_clock_time_may_have_seconds() -> None:
    assert found("since:14:00:01", time_store()) == ["14:30", "14:50"]


def test_clock_time_is_read_in_the_given_time_zone() -> None:
    assert found("since:16:00", time_store(), tz=timezone(timedelta(hours=2))) == ["14:00", "14:30", "14:50"]


def test_since_absolute_date_and_time() -> None:
    assert found("since:2026-11-23T14:30", time_store()) == ["14:30", "14:50"]


def test_absolute_time_may_carry_an_offset() -> None:
    assert found("since:2026-11-23T15:30+01:00", time_store()) == ["14:30", "14:50"]


def test_absolute_date_alone_means_midnight() -> None:
    assert found("until:2026-11-23", time_store()) == []


def test_quoted_absolute_time_may_use_a_space() -> None:
    assert found('since:"2026-11-23 14:30"', time_store()) == ["14:30", "14:50"]


def test_since_is_inclusive_and_until_exclusive() -> None:
    assert found("since:14:00 until:14:50", time_store()) == ["14:00", "14:30"]


def test_naive_now_is_read_in_the_given_time_zone() -> None:
    query = compile_query("since:30m", now=datetime(2026, 11, 23, 17, 0), tz=timezone(timedelta(hours=2)))
    assert [time_store().message[r] for r in query.filter(time_store())] == ["14:30", "14:50"]


# --- markers ---------------------------------------------------------------------------------


def test_markers_pass_text_terms() -> None:
    store = store_of(ev("upload ok"), ev("nothing"))
    marker(store, "api", "gap: lines may be missing here")
    assert found("upload", store) == ["upload ok", "gap: lines may be missing here"]


def test_markers_pass_excluded_text_terms() -> None:
    store = store_of(ev("gap closed"))
    marker(store, "api", "gap: 3 lines lost")
    assert found("-gap", store) == ["gap: 3 lines lost"]


def test_markers_pass_level_and_stream_terms() -> None:
    store = store_of(ev("e", level=Level.ERROR, stream="stderr"), ev("i", level=Level.INFO, stream="stderr"))
    marker(store, "api", "reconnected")
    assert found("level:error stream:stderr", store) == ["e", "reconnected"]


def test_markers_are_hidden_by_a_source_filter_of_another_source() -> None:
    store = store_of(ev("a", source="api"), ev("w", source="worker"))
    marker(store, "api", "api reconnected")
    marker(store, "worker", "worker reconnected")
    assert found("source:work", store) == ["w", "worker reconnected"]


def test_markers_are_hidden_by_an_excluded_source() -> None:
    store = store_of(ev("a", source="api"))
    marker(store, "api", "api reconnected")
    assert found("-source:api", store) == []


def test_podless_marker_stays_when_its_source_has_the_pod() -> None:
    store = store_of(ev("p", source="api", pod="pod-7f9c2"), ev("w", source="worker", pod="w-1"))
    marker(store, "api", "api reconnected")
    marker(store, "worker", "worker reconnected")
    assert found("pod:7f9c", store) == ["p", "api reconnected"]


def test_marker_of_another_pod_is_hidden_by_a_pod_filter() -> None:
    store = store_of(ev("p", source="api", pod="pod-7f9c2"), ev("q", source="api", pod="pod-11aa"))
    marker(store, "api", "pod-11aa gone", pod="pod-11aa")
    marker(store, "api", "pod-7f9c2 gone", pod="pod-7f9c2")
    assert found("pod:7f9c", store) == ["p", "pod-7f9c2 gone"]


def test_markers_obey_time_filters() -> None:
    store = store_of(ev("late", ts=NOW - timedelta(minutes=5)))
    marker(store, "api", "old gap", ts=NOW - timedelta(hours=2))
    marker(store, "api", "new gap", ts=NOW - timedelta(minutes=1))
    assert found("since:10m", store) == ["late", "new gap"]


def test_matches_row_agrees_on_markers() -> None:
    store = store_of(ev("a", source="api"))
    row = marker(store, "api", "reconnected")
    assert q("nomatch level:fatal").matches_row(store, row) and not q("source:zzz").matches_row(store, row)


# --- highlights ----------------------------------------------------------------------------------


def test_highlights_give_every_occurrence_of_a_word() -> None:
    assert q("err").highlights("ERR then err") == [(0, 3), (9, 12)]


def test_highlights_are_positions_in_the_plain_text() -> None:
    assert q("ok").highlights("\x1b[32mOK\x1b[0m and ok") == [(0, 2), (7, 9)]


def test_highlights_merge_overlapping_spans_sorted() -> None:
    assert q('b "abc" /c+d/').highlights("xabccd") == [(1, 6)]


def test_highlights_cover_regex_matches() -> None:
    assert q(r"/\d+ms/").highlights("took 350ms, then 20MS") == [(5, 10), (17, 21)]


def test_highlights_skip_excluded_and_key_terms() -> None:
    assert q("-err level:error source:api").highlights("err api") == []


def test_highlights_survive_lowercasing_that_changes_length() -> None:
    message = "İstanbul ERROR"  # "İ".lower() is two characters
    assert q("error").highlights(message) == [(9, 14)]


# --- filter() --------------------------------------------------------------------------------------


def test_empty_query_has_no_terms_and_keeps_every_row() -> None:
    store = store_of(ev("a"), ev("b"))
    marker(store, "api", "m")
    query = q("   ")
    assert query.empty and query.filter(store) == [0, 1, 2]


def test_query_keeps_its_text() -> None:
    assert q("level:warn upload").text == "level:warn upload"


def test_filter_only_looks_at_the_given_rows() -> None:
    store = store_of(*(ev("hit") for _ in range(6)))
    assert q("hit").filter(store, [1, 4, 5]) == [1, 4, 5] and q("hit").filter(store, range(2, 4)) == [2, 3]


def test_filter_returns_ascending_ids_for_unsorted_rows() -> None:
    store = store_of(*(ev("hit") for _ in range(6)))
    assert q("hit").filter(store, [5, 1, 3, 1]) == [1, 3, 5]


def test_filter_uses_ids_that_survive_eviction() -> None:
    store = store_of(ev("old hit"), ev("old"))
    store.clear()
    store.extend([ev("new"), ev("new hit")])
    assert q("hit").filter(store) == [3] and q("hit").filter(store, [0, 1, 2, 3]) == [3]


def test_filter_stops_between_chunks_when_asked() -> None:
    store = store_of(*(ev("hit") for _ in range(10)))
    answers = iter([False, True])
    assert q("hit").filter(store, should_stop=lambda: next(answers), chunk_size=4) == [0, 1, 2, 3]


def test_matches_row_is_false_for_rows_not_in_the_store() -> None:
    store = store_of(ev("hit"))
    assert not q("hit").matches_row(store, 1) and not q("hit").matches_row(store, -1)


# --- errors ------------------------------------------------------------------------------------------


def error_of(text: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        compile_query(text, now=NOW)
    return info.value


def test_query_error_is_a_value_error() -> None:
    assert isinstance(error_of("/[a/"), ValueError)


def test_invalid_regex_points_into_the_pattern() -> None:
    err = error_of("x -/ab(/")
    assert (err.position, "regular expression" in err.message) == (6, True)


def test_unterminated_character_set_points_at_the_bracket() -> None:
    assert error_of("/[a/").position == 1


def test_unknown_key_suggests_the_right_one() -> None:
    err = error_of("disk lvl:x")
    assert (err.position, "did you mean level:" in err.message) == (5, True)


def test_unknown_key_says_how_to_search_for_the_text() -> None:
    assert '"status:500"' in error_of("status:500").message


def test_excluded_unknown_key_points_at_the_key() -> None:
    assert error_of("-lvl:x").position == 1


def test_bad_level_points_at_the_value() -> None:
    err = error_of("level:loud")
    assert (err.position, "warn" in err.message) == (6, True)


@pytest.mark.parametrize("value", ["soon", "25:00", "2026-13-01", "10", "99999999999d"])
def test_bad_time_points_at_the_value(value: str) -> None:
    assert error_of(f"x since:{value}").position == 8


def test_unclosed_quote_points_at_the_quote() -> None:
    assert error_of('a "b c').position == 2


def test_unclosed_quote_in_a_key_value_points_at_the_quote() -> None:
    assert error_of('source:"my app').position == 7


def test_key_without_value_points_after_the_colon() -> None:
    assert error_of("pod:").position == 4


def test_excluded_since_is_an_error() -> None:
    assert error_of("-since:1h").position == 0


# --- fuzzing and the reference ---------------------------------------------------------------------

QUERY_CHARS = st.sampled_from(list('ab-:/"\\ ()[]*+?^$|{}.=ilevsourcpdnmthwkzI0123456789TZ\x1bİ\n'))


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.text(QUERY_CHARS, max_size=30)))
def test_compile_never_raises_anything_but_query_error(text: str) -> None:
    try:
        compile_query(text, now=NOW)
    except QueryError as e:
        assert 0 <= e.position <= len(text)


@settings(max_examples=200, deadline=None)
@given(st.text(QUERY_CHARS, max_size=20))
def test_any_query_that_compiles_filters_like_the_reference(text: str) -> None:
    store = store_of(
        ev("err Upload\n12"), ev("\x1b[31mup\x1b[0m a b", level=Level.WARN, pod="p1"), ev("İx", stream="stderr")
    )
    marker(store, "api", "gap")
    try:
        query = compile_query(text, now=NOW)
    except QueryError:
        return
    assert query.filter(store) == [r for r in store.rows() if query.matches_row(store, r)]


TERMS = st.sampled_from(
    [
        "err",
        "ERR",
        "Upload",
        "upload",
        '"a b"',
        '"A"',
        "/^up/",
        r"/\d{2}/",
        "/Up|err/",
        "/x?/i",
        "-err",
        "-/b$/",
        '-"up"',
        "level:warn",
        "level:=info",
        "level:none",
        "-level:error",
        "source:ap",
        "source:wo",
        "-source:api",
        "pod:p1",
        "pod:p",
        "-pod:p2",
        "stream:err",
        "-stream:out",
        "since:50m",
        "until:20m",
        "since:14:30",
        "İ",
        "ı",
    ]
)
MESSAGES = st.lists(
    st.sampled_from(["err", "ERR", "up", "Upload", "a b", "A", "\x1b[31m", "\x1b[0m", "12", "\n", " ", "b", "İ", "x"]),
    max_size=6,
).map("".join)
EVENTS = st.lists(
    st.tuples(
        MESSAGES,
        st.sampled_from(["api", "worker", "Apex"]),
        st.sampled_from([None, *Level]),
        st.sampled_from([None, "p1", "p2", "P12"]),
        st.sampled_from([None, "stdout", "stderr"]),
        st.sampled_from([0, 5, 19, 20, 21, 30, 31, 49, 50, 51, 70]),
        st.booleans(),
    ),
    max_size=40,
)


def build(rows: list[tuple[str, str, Level | None, str | None, str | None, int, bool]]) -> LogStore:
    store = LogStore()
    for message, source, level, pod, stream, minutes_ago, is_marker in rows:
        ts = NOW - timedelta(minutes=minutes_ago)
        if is_marker and minutes_ago % 5 == 0:
            store.add_marker(SourceStatus(source=source, state=State.GAP, pod=pod, ts=ts), message)
        else:
            store.extend([LogEvent(source, "runpod", message, ts, level, pod, stream)])
    return store


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS, st.lists(TERMS, max_size=3).map(" ".join), st.integers(1, 9))
def test_filter_equals_the_per_row_reference(rows: list, text: str, chunk: int) -> None:  # type: ignore[type-arg]
    store = build(rows)
    query = compile_query(text, now=NOW)
    expected = [r for r in store.rows() if query.matches_row(store, r)]
    assert query.filter(store, chunk_size=chunk) == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EVENTS, st.lists(TERMS, max_size=2).map(" ".join), st.integers(1, 5), st.data())
def test_filter_of_given_rows_equals_the_reference(rows: list, text: str, chunk: int, data: st.DataObject) -> None:  # type: ignore[type-arg]
    store = build(rows)
    n = len(store)
    subset = data.draw(
        st.one_of(
            st.builds(range, st.integers(-2, n + 1), st.integers(-2, n + 1)),
            st.lists(st.integers(-2, n + 1)),
        )
    )
    query = compile_query(text, now=NOW)
    expected = sorted({r for r in subset if query.matches_row(store, r)})
    assert query.filter(store, subset, chunk_size=chunk) == expected


# --- the joined-chunk search agrees with the row-by-row one -------------------------------

BLOB_PIECES = st.sampled_from(
    [
        "err",
        "ERR",
        "up",
        "Upload",
        "a b",
        "ab",
        "A",
        "\x1b[31m",
        "\x1b[0m",
        "\x1b[3",
        "12",
        "3.5",
        "\n",
        " ",
        "b",
        "İ",
        "ı",
        "Σ",
        "ΑΣ",
        "ς",
        "ß",
        "ﬃ",
        "x",
        "\x00",
        ".",
        "m",
        "[",
        "\t",
    ]
)
BLOB_TERMS = st.sampled_from(
    [
        "err",
        "ERR",
        "Upload",
        "upload",
        "up",
        "i̇",
        "σ",
        "ς",
        "ß",
        "ss",
        '"a b"',
        '"b\nu"',
        "-err",
        '-"up"',
        "3.5",
        "/^up/",
        "/b$/",
        r"/\d+\.\d/",
        r"/\d{2}/",
        "/Up|err/",
        "/x?/i",
        "/x*/",
        "/a.b/",
        "/a.*b/",
        "/e.r/i",
        "/[a-c]+/",
        "/[]a]/",
        r"/\bup/",
        r"/(?<=a)b/",
        "/(?=b)/",
        r"/\W/",
        "/[^a]b/",
        r"/(e)r\1/i",
        "/(?:up)+l/",
        "/u++p/",
        "/ς/",
        "/σ/i",
        "/Σ/",
        "-/b$/",
        "-/a.b/",
        "-/[a-c]+/",
        "/m[0-9]/",
        r"/\x00/",
        "/(?P<w>e)rr/",
        "/up(?=l)/",
        "/(?i:up)l/",
        "/a b$/",
        "/^a b/",
        "-/rr/",
    ]
)


def build_texts(messages: list[str]) -> LogStore:
    store = LogStore()
    store.extend(ev(m, level=Level.INFO if i % 3 else None) for i, m in enumerate(messages))
    if messages:
        marker(store, "api", "a b")
    return store


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(BLOB_PIECES, max_size=8).map("".join), max_size=60),
    st.lists(BLOB_TERMS, min_size=1, max_size=3).map(" ".join),
    st.integers(1, 70),
)
def test_joined_search_equals_the_per_row_reference(messages: list[str], text: str, chunk: int) -> None:
    """Every chunk goes through the joined search (its size floor lowered to one
    row): non-ASCII whose lower-case changes length, colour codes, multi-line
    text, separators inside messages, anchors and lookarounds all agree."""
    from logview import query as query_module

    store = build_texts(messages)
    query = compile_query(text, now=NOW)
    expected = [r for r in store.rows() if query.matches_row(store, r)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(query_module, "BLOB_MIN", 1)
        assert query.filter(store, chunk_size=chunk) == expected
        half = list(store.rows())[::2]
        assert query.filter(store, half, chunk_size=chunk) == [r for r in half if query.matches_row(store, r)]


def test_joined_search_handles_dense_and_sparse_hits() -> None:
    """A chunk with hits in most rows switches to row-by-row testing midway; both halves count."""
    messages = [("upload done" if i % 3 else "idle") + f" {i}" for i in range(5000)]
    messages[4321] = "UPLOAD\x1b[31m late\x1b[0m"
    store = build_texts(messages)
    for text in ("upload", "-upload", "/up.oad/", "/\\d+3$/", "idle", "UPLOAD", "late"):
        query = compile_query(text, now=NOW)
        assert query.filter(store) == [r for r in store.rows() if query.matches_row(store, r)], text


def test_regexes_that_could_cross_rows_are_tested_row_by_row() -> None:
    from logview.query import _blob_pattern

    assert _blob_pattern(r"(loaded|finished) in \d+\.\d+s", 0) is not None
    assert _blob_pattern("a.b", 0) is not None
    for unsafe in ("^a", "a$", r"\bx", "(?<=a)b", "(?!a)", r"\W", "[^a]", r"\x00", "a++", "(?s)a", "(?>a)"):
        assert _blob_pattern(unsafe, 0) is None, unsafe


# --- regexes prefiltered by the literals their matches contain ------------------------------


@pytest.mark.parametrize(
    ("body", "caseless", "literals", "prefix"),
    [
        (r"(loaded|finished) in \d+\.\d+s", False, ("finished in ", "loaded in "), True),
        ("timeout", False, ("timeout",), True),
        (r"\d+ms timeout", False, ("ms timeout",), False),
        (r"(error|warn(ing)?) \d+", False, ("error ", "warn ", "warning "), True),
        (r"\bconnection reset\b", False, ("connection reset",), True),
        ("Disk (full|quota)", True, ("disk full", "disk quota"), True),
        ("(?i:conn)ection refused", False, ("ection refused",), False),
        ("éclair", True, ("clair",), False),  # ignoring case, only ASCII literals are sure
        (r"x?|\d", False, (), False),
        ("a.b", False, ("a",), True),
        ("[a-d][a-d]", False, (), False),  # sixteen short literals: more passes than the regex is worth
        ("x(loaded|finished.)", False, ("finished", "loaded"), False),
        ("(?:abc){2}", False, ("abcabc",), True),
    ],
)
def test_literal_plan_finds_what_every_match_contains(
    body: str, caseless: bool, literals: tuple[str, ...], prefix: bool
) -> None:
    from logview.query import _literal_plan

    assert _literal_plan(body, caseless) == (literals, prefix)


REGEX_LITERALS = [
    "a", "b", "ab", "ba", "in ", "ok", "A", "B", "é", "É", "İ", "ı", "ſ", "k", "K", "σ", "Σ", "ς", " ", "\n", r"\.",
]  # fmt: skip
REGEX_OTHERS = [
    ".", r"\d", r"\w", r"\s", r"\S", "[ab]", "[a-c]", "[^a]", "[A-B]", "^", "$", r"\b", r"\B", r"\x00", r"\Z",
    "(?<=a)", "(?<!b)",
]  # fmt: skip
REGEXES = st.recursive(
    st.sampled_from(REGEX_LITERALS * 3 + REGEX_OTHERS),  # mostly literals, so that prefilters are built
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=4).map("".join),
        st.lists(inner, min_size=2, max_size=4).map("".join),
        st.lists(inner, min_size=2, max_size=3).map(lambda alts: "(" + "|".join(alts) + ")"),
        st.tuples(inner, st.sampled_from(["?", "*", "+", "{2}", "{1,3}", "{0,2}", "??", "+?", "++"])).map(
            lambda t: f"(?:{t[0]}){t[1]}"
        ),
        st.tuples(st.sampled_from(["(?=", "(?!", "(?i:", "(?>", "("]), inner).map(lambda t: f"{t[0]}{t[1]})"),
        st.tuples(inner, st.integers(0, 999)).map(lambda t: f"(?P<g{t[1]}>{t[0]})(?P=g{t[1]})"),
    ),
    max_leaves=10,
)
REGEX_TEXT = st.lists(
    st.sampled_from([
        "a", "b", "ab", "ba", "in ", "ok", "A", "B", "AB", "In ", "OK", "é", "É", "İ", "ı", "ſ", "s", "S", "k", "K",
        "σ", "Σ", "ς", " ", ".", "1", "\n", "\x00", "\x1b[31m", "\x1b[0m", "\t",
    ]),
    max_size=10,
).map("".join)  # fmt: skip


def _compiles(body: str, flags: int = 0) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(body, flags)
    except re.error:
        return False
    return True


FLAT_REGEXES = st.lists(st.sampled_from(REGEX_LITERALS + REGEX_OTHERS), min_size=1, max_size=5).map("".join)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(REGEXES, FLAT_REGEXES), st.booleans(), st.data())
def test_every_match_contains_one_of_the_literals(body: str, caseless: bool, data: st.DataObject) -> None:
    """What the literal analysis promises, for every set it offers and the one
    `_literal_plan` picks, holds for a match starting anywhere (ignoring case:
    in ASCII text)."""
    from logview import query as query_module

    flags = re.IGNORECASE if caseless else 0
    if not _compiles(body, flags):
        return
    pattern = re.compile(body, flags)
    matching = st.from_regex(pattern).map(lambda t: t[:30])  # short: nested repeats backtrack a lot
    texts = data.draw(st.lists(st.one_of(REGEX_TEXT, matching), min_size=1, max_size=4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sre_constants
        import sre_parse

        exact, offers = query_module._Literals(sre_constants, caseless).seq(sre_parse.parse(body).data)
    if exact is not None and "" not in exact:
        offers.append((exact, True))
    literals, prefix = query_module._literal_plan(body, caseless)
    if literals:
        offers.append((frozenset(literals), prefix))
    for text in texts:
        if caseless and not text.isascii():
            continue
        for start in range(len(text) + 1):
            m = pattern.match(text, start)
            if m is None:
                continue
            got = m.group().lower() if caseless else m.group()
            if exact is not None:
                assert got in exact, (body, text, start, exact)
            for lits, starts in offers:
                assert any(lit in got for lit in lits), (body, text, start, lits)
                if starts:
                    assert any(got.startswith(lit) for lit in lits), (body, text, start, lits)


def _smart_case_search(body: str, forced: bool, plain: str) -> bool:
    """The regex term's meaning, naively: smart case as the module docstring says."""
    letters = re.sub(r"\\.|\(\?P<[^>]*>|\(\?P=[^)]*\)", "", body, flags=re.S)
    fold = any(c.islower() for c in letters) and not any(c.isupper() for c in letters)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (
            re.search(body, plain.lower() if fold else plain, re.IGNORECASE if forced and not fold else 0) is not None
        )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    REGEXES,
    st.sampled_from(["", "i", "-"]),
    st.integers(1, 50),
    st.booleans(),
    st.sampled_from([0.0, 0.25, 1e9]),
    st.data(),
)
def test_regex_filter_equals_a_naive_search_row_by_row(
    body: str, form: str, chunk: int, own_prefix: bool, dense: float, data: st.DataObject
) -> None:
    """Random regexes over rows that match them or not (cases, non-ASCII,
    colours, newlines, separators inside messages) agree with `re.search` on
    each row's plain text, through the joined search with or without literal
    prefilters."""
    from logview import query as query_module

    if not _compiles(body, re.IGNORECASE if form == "i" else 0):
        return
    matching = st.from_regex(re.compile(body, re.IGNORECASE if form == "i" else 0)).map(lambda t: t[:30])
    messages = data.draw(st.lists(st.one_of(REGEX_TEXT, matching, matching.map(str.upper)), max_size=40))
    text = f"-/{body}/" if form == "-" else f"/{body}/{form}"
    store = build_texts(messages)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(query_module, "BLOB_MIN", 1)
        mp.setattr(query_module, "_DENSE", dense)  # every chunk dense, as it comes, or never dense
        if not own_prefix:
            mp.setattr(query_module, "_OWN_PREFIX", 0)
        query = compile_query(text, now=NOW)
        got = query.filter(store, chunk_size=chunk)
    rows = [r for r in store.rows() if store.kind[r - store.first] != MARKER]
    expected = [r for r in rows if _smart_case_search(body, form == "i", store.plain[r - store.first]) != (form == "-")]
    assert [r for r in got if r in rows] == expected


def test_literal_prefilter_over_many_rows_equals_the_reference() -> None:
    """The benchmark's kind of regex over enough rows for the joined search, with
    matches in every case, near misses, dense and sparse stretches."""
    from logview import query as query_module

    messages = []
    for i in range(6000):
        kind = i % 6 if i < 3000 else (0 if i % 2 else 5) if i < 5000 else i % 7
        messages.append(
            [
                f"model loaded in {i % 13}.{i % 7}s",
                f"Finished In {i}.5s total",
                f"finished in {i}s",  # no fraction: a near miss
                f"step {i} loaded in 3.x",
                f"LOADED IN 0.{i}S\nsecond line",
                f"idle {i}",
                "upload İ finished in 1.0s",  # lower() grows this text
            ][kind]
        )
    messages[4444] = "finished in 2.5s\x00loaded in 1.0s"
    messages[2222] = "bananana5"  # a match where the literal overlaps itself
    store = build_texts(messages)
    for text in (r"/(loaded|finished) in \d+\.\d+s/", r"-/(loaded|finished) in \d+\.\d+s/", r"/(Loaded|finished) in \d+/",
                 r"/(LOADED|FINISHED) IN \d/i", r"/\d+ms|in \d+\.\d+s/", r"/^(model|step) \d*/", "/total$/", r"/anana\d/"):  # fmt: skip
        query = compile_query(text, now=NOW)
        expected = [r for r in store.rows() if query.matches_row(store, r)]
        for dense in (0.0, 0.25, 1e9):  # the literals' hits found as dense, as they are, never dense
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(query_module, "_DENSE", dense)
                assert query.filter(store) == expected, text
                assert query.filter(store, chunk_size=1000) == expected, text
