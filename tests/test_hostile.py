"""Hostile input: every decoder takes any bytes and neither raises nor drops.

Servers send whatever they send. Each decoder is fuzzed with hypothesis and
fed the checked-in corpus of nasty inputs (tests/corpus/), plus a 10 MB line
and a deeply nested JSON document made at test time. The property is always
the same: no exception escapes, and a piece that cannot be decoded becomes a
visible event (marked unparseable) or a status, never silence.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logview.config import ChronoverseSource, FalSource, GoldRushSource, RunPodSource
from logview.errors import ServerError
from logview.model import Level, LogEvent, SourceStatus, State
from logview.providers.chronoverse import ChronoverseProvider
from logview.providers.fal import FalProvider
from logview.providers.feldera import Gap, LineSplitter, Notice, ReplayDedupe, parse_line
from logview.providers.goldrush import GoldRushProvider, _LogsData, read_envelope, split_tail, tail_error, tail_overlap
from logview.query import QueryError, compile_query
from logview.sse import SSEDecoder, SSEvent
from logview.text import detect_level, parse_ts, sanitize

CORPUS = Path(__file__).parent / "corpus"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# What a terminal could act on, besides SGR colours, tab and newline.
UNSAFE = re.compile(
    "\x1b(?!\\[[0-9;:]*m)|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
frames = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "replace")),
    json_values.map(json.dumps),
    st.dictionaries(
        st.sampled_from(
            ["line", "source", "ts", "message", "level", "timestamp", "labels", "sequence_num", "stream", "app"]
        ),
        json_values,
    ).map(json.dumps),
)


def corpus_lines() -> list[str]:
    """Every line of every corpus file, decoded as the wire decoders do, plus the made-up ones."""
    out: list[str] = []
    for path in sorted(CORPUS.iterdir()):
        data = path.read_bytes()
        out += data.decode("utf-8", "replace").replace("\r", "\n").split("\n")
    return [*out, *made_lines()]


def made_lines() -> list[str]:
    """Too big to check in: a 10 MB line, and JSON nested beyond Python's recursion limit."""
    near = [
        pre * n + "1" + "}" * (n * pre.count("{"))
        for n in range(300, 1001, 50)
        for pre in ('{"message": ', '{"fields": {"a": ', '{"x": ')
    ]
    return ["x" * 10_000_000, "[" * 200_000, '{"message": ' * 100_000, *near]


def _runpod() -> RunPodSource:
    return RunPodSource(provider="runpod", name="rp", endpoint_id="ep_hostile", worker_id="w1")


def _fal() -> FalProvider:
    return FalProvider(FalSource(provider="fal", name="fal"), None, None)


def _chronoverse() -> ChronoverseProvider:
    return ChronoverseProvider(
        ChronoverseSource(provider="chronoverse", name="cv", workflow_id="wf", job_id="j"), None, None
    )


def _goldrush() -> GoldRushProvider:
    return GoldRushProvider(GoldRushSource(provider="goldrush", name="gr", pipeline_id="pipe_x"), None, None)


def assert_safe(text: str) -> None:
    bad = UNSAFE.search(text)
    assert bad is None, f"unsafe {bad.group()!r} in {text[:120]!r}"


# --- RunPod ---------------------------------------------------------------------


def check_runpod(data: str) -> None:
    from logview.providers.runpod import RunPodProvider

    ev, ts_raw = RunPodProvider(_runpod(), None, None).decode(
        SSEvent("message", data, "2026-05-28T20:26:40Z/000001", None)
    )
    assert isinstance(ev, LogEvent)
    assert_safe(ev.message)
    assert ev.stream is None or not UNSAFE.search(ev.stream)
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        payload = None
    if not (isinstance(payload, dict) and isinstance(payload.get("line"), str)):
        assert ev.fields["logview"] == "unparseable" and ev.fields["why"] and ev.level is Level.WARN
        assert ev.message == sanitize(data)
    assert ts_raw is None or parse_ts(ts_raw) is not None


@FUZZ
@given(frames)
def test_runpod_decode_shows_every_frame_it_cannot_read(data: str) -> None:
    check_runpod(data)


# --- fal -------------------------------------------------------------------------


def check_fal(data: str) -> None:
    item = _fal()._entry(data, None, Counter())
    assert isinstance(item, LogEvent)  # no replay in force: every frame is delivered
    assert_safe(item.message)
    assert item.pod is None or not UNSAFE.search(item.pod)
    assert all(not UNSAFE.search(k + v) for k, v in item.fields.items())
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = None
    if not (isinstance(doc, dict) and isinstance(doc.get("message"), str)):
        assert item.fields["logview"] == "unparseable" and item.fields["why"] and item.level is Level.WARN
        assert item.message == sanitize(data)


@FUZZ
@given(frames)
def test_fal_entry_shows_every_frame_it_cannot_read(data: str) -> None:
    check_fal(data)


# --- Chronoverse --------------------------------------------------------------------


def check_chronoverse(data: str) -> None:
    ev = _chronoverse()._live(data)
    assert isinstance(ev, LogEvent)  # a fresh provider has delivered nothing: nothing is a repeat
    assert_safe(ev.message)
    assert all(not UNSAFE.search(k + v) for k, v in ev.fields.items())
    assert ev.stream is None or not UNSAFE.search(ev.stream)
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        obj = None
    if not isinstance(obj, dict):
        assert ev.fields["logview"] == "unparseable" and ev.fields["why"] and ev.level is Level.WARN
        assert ev.message == sanitize(data)


@FUZZ
@given(frames)
def test_chronoverse_live_shows_every_event_it_cannot_read(data: str) -> None:
    check_chronoverse(data)


# --- Feldera --------------------------------------------------------------------------


def check_feldera(line: str) -> None:
    p = parse_line(line)
    assert_safe(p.message)
    assert p.pod is None or not UNSAFE.search(p.pod)
    assert all(not UNSAFE.search(k + v) for k, v in p.fields.items())
    assert p.ts is None or p.ts.tzinfo is not None


@FUZZ
@given(frames)
def test_feldera_parse_line_takes_any_line(line: str) -> None:
    check_feldera(line)


@FUZZ
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0, max_value=2000), max_size=8), st.integers(1, 64))
def test_feldera_splitter_keeps_every_line_whatever_the_chunking(data: bytes, cuts: list[int], limit: int) -> None:
    whole = LineSplitter(limit)
    expected = whole.feed(data)
    pieces = LineSplitter(limit)
    got: list[str] = []
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for a, b in itertools.pairwise(bounds):
        got += pieces.feed(data[a:b])
    assert got == expected
    assert len(got) == data.count(b"\n")
    assert pieces.rest() == whole.rest()


lines = st.lists(st.text(max_size=30), max_size=30)


@FUZZ
@given(lines, lines)
def test_feldera_replay_of_the_same_buffer_yields_only_the_new_lines(old: list[str], new: list[str]) -> None:
    header = "Fresh start of pipeline logs"
    d = ReplayDedupe()
    d.begin()
    first = [o for ln in [header, *old] for o in d.feed(ln)] + d.quiet()
    assert first == [header, *old]
    d.begin()
    second = [o for ln in [header, *old, *new] for o in d.feed(ln)] + d.quiet()
    assert second == new


ops = st.lists(
    st.one_of(
        st.just("begin"),
        st.just("quiet"),
        st.text(max_size=20),
        st.sampled_from(["Fresh start of pipeline logs", "3 prior log lines were discarded", "x"]),
    ),
    max_size=60,
)


@FUZZ
@given(ops)
def test_feldera_dedupe_takes_any_sequence_of_calls(steps: list[str]) -> None:
    d = ReplayDedupe(window=8)
    for step in steps:
        if step == "begin":
            d.begin()
            continue
        for out in d.quiet() if step == "quiet" else d.feed(step):
            assert isinstance(out, str | Gap | Notice)


# --- GoldRush ----------------------------------------------------------------------------


@FUZZ
@given(st.lists(st.sampled_from("abc"), max_size=12), st.lists(st.sampled_from("abc"), max_size=12))
def test_goldrush_overlap_is_the_longest_suffix_prefix(old: list[str], new: list[str]) -> None:
    k = tail_overlap(old, new)
    best = max((n for n in range(min(len(old), len(new)) + 1) if old[len(old) - n :] == new[:n]), default=0)
    assert k == best


@FUZZ
@given(st.text())
def test_goldrush_split_tail_keeps_every_line(logs: str) -> None:
    got = split_tail(logs)
    assert len(got) == logs.count("\n") + (1 if logs and not logs.endswith("\n") else 0)
    err = tail_error(logs)
    assert err is None or "\n" not in err


@FUZZ
@given(st.binary())
def test_goldrush_envelope_is_read_or_refused_as_a_server_error(body: bytes) -> None:
    try:
        read_envelope(body, _LogsData)
    except ServerError as e:
        assert_safe(str(e))


@FUZZ
@given(st.lists(st.tuples(st.text(max_size=10), st.none() | st.text()), max_size=5))
def test_goldrush_first_poll_shows_every_line_of_every_pod(pods: list[tuple[str, str | None]]) -> None:
    gr = _goldrush()
    data = _LogsData.model_validate({"pods": [{"pod": p, "logs": logs} for p, logs in pods]})
    items = gr._apply(data, datetime.now(UTC))
    first: dict[str, str | None] = {}
    for p, logs in pods:
        first.setdefault(p, logs)
    for pod, logs in first.items():
        events = [i for i in items if isinstance(i, LogEvent) and i.pod == pod]
        statuses = [i for i in items if isinstance(i, SourceStatus) and i.pod == pod]
        assert statuses[0].state is State.POD_NEW
        if tail_error(logs or "") is not None:
            assert statuses[1].state is State.POD_WAITING
        else:
            assert [e.message for e in events] == [sanitize(x) for x in split_tail(logs or "")]
        assert all(not UNSAFE.search(e.message) for e in events)


# --- SSE ---------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=10))
def test_sse_decoder_gives_the_same_events_whatever_the_chunking(data: bytes, cuts: list[int]) -> None:
    whole = SSEDecoder(max_line=256).feed(data)
    dec = SSEDecoder(max_line=256)
    got: list[SSEvent] = []
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    for a, b in itertools.pairwise(bounds):
        got += dec.feed(data[a:b])
    assert got == whole


# --- text and query ---------------------------------------------------------------------------


@FUZZ
@given(st.text())
def test_text_helpers_answer_any_text(text: str) -> None:
    ts = parse_ts(text)
    assert ts is None or ts.tzinfo is not None
    assert detect_level(text) is None or isinstance(detect_level(text), Level)
    clean = sanitize(text)
    assert_safe(clean)
    assert sanitize(clean) == clean


@FUZZ
@given(st.text(max_size=80))
def test_compile_query_compiles_or_says_where_it_failed(text: str) -> None:
    try:
        q = compile_query(text)
    except QueryError as e:
        assert 0 <= e.position <= len(text)
        return
    q.highlights("some text to match against")


# --- the corpus -------------------------------------------------------------------------------------


@pytest.mark.parametrize("check", [check_runpod, check_fal, check_chronoverse, check_feldera])
def test_corpus_lines_pass_every_decoder(check: object) -> None:
    assert callable(check)
    for line in corpus_lines():
        check(line)


def test_corpus_files_pass_the_stream_splitters() -> None:
    for data in [p.read_bytes() for p in sorted(CORPUS.iterdir())] + [b"x" * 10_000_000 + b"\n"]:
        assert len(LineSplitter().feed(data)) == data.count(b"\n")
        SSEDecoder().feed(data)
        for line in split_tail(data.decode("utf-8", "replace")):
            assert_safe(sanitize(line))


def test_sse_decoder_cuts_a_10mb_line_and_keeps_the_stream(tmp_path: Path) -> None:
    dec = SSEDecoder(max_line=1 << 20)
    events = dec.feed(b"data: " + b"y" * 10_000_000 + b"\n\ndata: next\n\n")
    assert [len(e.data) < 2 << 20 for e in events] == [True, True]
    assert events[0].data.endswith("longer than 16 MiB]")
    assert events[1].data == "next"


def tail_file(path: Path, tmp_path: Path, *, timeout: float = 20) -> tuple[str, str, int]:
    """`logview tail --format text` on a file read once (follow = false)."""
    cfg = tmp_path / "hostile.toml"
    cfg.write_text(f'[[sources]]\nprovider = "file"\nname = "f"\nfollow = false\npath = {json.dumps(str(path))}\n')
    res = subprocess.run(
        [sys.executable, "-m", "logview.cli", "tail", "--format", "text", "--config", str(cfg)],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return res.stdout.decode("utf-8"), res.stderr.decode("utf-8"), res.returncode


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir()))
def test_tail_prints_one_safe_line_per_corpus_line(name: str, tmp_path: Path) -> None:
    data = (CORPUS / name).read_bytes()
    out, err, rc = tail_file(CORPUS / name, tmp_path)
    assert rc == 0, err
    printed = out.splitlines()
    expected = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    assert len(printed) == expected
    for line in printed:
        assert_safe(line)


def test_tail_keeps_every_byte_of_a_10mb_line(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"start " + b"z" * 10_000_000 + b" end\nafter\n")
    out, err, rc = tail_file(big, tmp_path, timeout=60)
    assert rc == 0, err
    printed = out.splitlines()
    assert printed[-1].endswith(" after")
    assert sum(line.count("z") for line in printed) == 10_000_000
    assert " end" in printed[-2]


# --- terminal safety, end to end ---------------------------------------------------------------------

SGR = re.compile(r"\x1b\[[0-9;:]*m")
INJECTION = CORPUS / "terminal-injection.txt"


def assert_terminal_safe(out: str) -> None:
    """Nothing a terminal acts on but SGR colours, newline, CR and tab."""
    bare = SGR.sub("", out)
    bad = re.search(
        "[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]", bare
    )
    assert bad is None, f"{bad.group()!r} near {bare[max(0, bad.start() - 40) : bad.end() + 40]!r}"


def test_tail_on_a_terminal_passes_colours_and_nothing_else(tmp_path: Path) -> None:
    import os
    import pty

    cfg = tmp_path / "inj.toml"
    cfg.write_text(f'[[sources]]\nprovider = "file"\nname = "f"\nfollow = false\npath = {json.dumps(str(INJECTION))}\n')
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logview.cli", "tail", "--format", "text", "--config", str(cfg)],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    out = b"".join(chunks).decode("utf-8")  # strict: every byte sent is valid UTF-8
    assert_terminal_safe(out)
    assert "\x1b[2m" in out  # colours are on: tail's own SGR
    assert "\x1b[31mred stays\x1b[0m" in out
    assert "\x1b[38:2:1:2:3mcolon rgb" in out
    assert out.count("\n") == INJECTION.read_bytes().count(b"\n")
    assert "␛]52;c;" in out  # the clipboard write is shown, defused


async def test_tui_log_pane_renders_injection_lines_as_plain_cells() -> None:
    from rich.color import Color

    from logview.config import FileSource
    from logview.providers.local import FileProvider
    from logview.providers.local import LineSplitter as LocalSplitter
    from logview.store import LogStore
    from logview.ui.app import LogviewApp

    spec = FileSource(provider="file", name="f", path=str(INJECTION))
    items = FileProvider(spec, None, None)._events(LocalSplitter().feed(INJECTION.read_bytes()))
    events = [i for i in items if isinstance(i, LogEvent)]
    store = LogStore()
    store.extend(events)
    app = LogviewApp([spec], stream=False, store=store)
    async with app.run_test(size=(160, 40)):
        rendered = []
        for row in store.rows():
            segments = [seg for strip in app.pane._render_row(row) for seg in strip]
            text = "".join(seg.text for seg in segments)
            assert "\x1b" not in text
            assert_terminal_safe(text)
            rendered.append((text, segments))
    assert len(rendered) == INJECTION.read_bytes().count(b"\n")
    red = [seg for text, segs in rendered if "red stays" in text for seg in segs if "red stays" in seg.text]
    assert red and red[0].style is not None and red[0].style.color == Color.parse("color(1)")
