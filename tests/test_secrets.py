"""Secrets: keys only from the environment or a command, never shown, never sent elsewhere.

A planted key is used wrongly (the simulator answers 401) and rightly (the
simulator is started with it) through `logview tail` and the TUI, and every
output is searched for it. Redirects to another origin must not carry the
Authorization header, and our client does not follow redirects at all. TLS
verification stays on unless a source says `insecure = true`, which is then
said out loud.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from logview.config import RunPodSource, load_settings
from logview.errors import ConfigError
from logview.model import LogEvent, SourceStatus, State
from logview.sim.server import SimParams, Simulator
from logview.streaming import INSECURE_NOTE, Streamer, _make_client

PLANTED = "sk-PLANTED-0123456789abcdef"
PROVIDERS = ("runpod", "fal", "feldera", "chronoverse", "goldrush")


def env_name(provider: str) -> str:
    return f"LV_PLANTED_{provider.upper()}"


def write_config(sim: Simulator, path: Path) -> Path:
    """Every demo source, its key read from an environment variable holding the planted key."""
    out = []
    for table in sim.demo_sources():
        table = {**table, "api_key_env": env_name(table["provider"])}
        out.append("[[sources]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))
    path.write_text("\n".join(out))
    return path


def planted_env() -> dict[str, str]:
    return {**os.environ, **{env_name(p): PLANTED for p in PROVIDERS}}


@pytest.fixture
def wrong_sim() -> Iterator[Simulator]:
    """Accepts only the demo keys: the planted one gets 401."""
    with Simulator(SimParams(seed=3, rate=200.0, backlog=20)) as s:
        yield s


@pytest.fixture
def right_sim() -> Iterator[Simulator]:
    """Accepts the planted key for every provider."""
    with Simulator(SimParams(seed=3, rate=200.0, backlog=20), keys=dict.fromkeys(PROVIDERS, PLANTED)) as s:
        yield s


def assert_no_key(*outputs: str) -> None:
    for out in outputs:
        assert PLANTED not in out
        assert PLANTED[3:] not in out  # not even without its prefix


# --- config ----------------------------------------------------------------------------


def test_config_holding_a_key_inline_is_refused_without_echoing_it(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[[sources]]\nprovider = "runpod"\nendpoint_id = "ep"\nworker_id = "w"\napi_key = "{PLANTED}"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "api_key" in str(err.value)
    assert_no_key(str(err.value))


def _command_config(tmp_path: Path, mode: int, command: bool = True) -> Path:
    cfg = tmp_path / "c.toml"
    line = 'api_key_command = "pass show runpod"\n' if command else ""
    cfg.write_text(f'[[sources]]\nprovider = "runpod"\nendpoint_id = "ep"\nworker_id = "w"\n{line}')
    cfg.chmod(mode)
    return cfg


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        (0o640, "can be read by other users"),
        (0o604, "can be read by"),
        (0o620, "can be written by"),
        (0o666, "read and written"),
    ],
)
def test_key_command_in_a_config_open_to_others_warns(tmp_path: Path, mode: int, words: str) -> None:
    warnings = load_settings(_command_config(tmp_path, mode)).warnings
    assert len(warnings) == 1
    assert words in warnings[0] and "api_key_command" in warnings[0] and "chmod 600" in warnings[0]


def test_key_command_in_a_private_config_does_not_warn(tmp_path: Path) -> None:
    assert load_settings(_command_config(tmp_path, 0o600)).warnings == []


def test_readable_config_without_a_key_command_does_not_warn(tmp_path: Path) -> None:
    assert load_settings(_command_config(tmp_path, 0o644, command=False)).warnings == []


def test_cli_prints_the_permission_warning_to_stderr(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text("one line\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[[sources]]\nprovider = "file"\nfollow = false\npath = {json.dumps(str(log))}\napi_key_command = "echo unused"\n'
    )
    cfg.chmod(0o644)
    res = subprocess.run(
        [sys.executable, "-m", "logview.cli", "tail", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert "logview: warning:" in res.stderr and "chmod 600" in res.stderr
    assert res.stdout.endswith("one line\n")


# --- the planted key: tail -----------------------------------------------------------------


def test_tail_with_a_wrong_planted_key_fails_every_source_without_showing_it(
    wrong_sim: Simulator, tmp_path: Path
) -> None:
    cfg = write_config(wrong_sim, tmp_path / "c.toml")
    res = subprocess.run(
        [sys.executable, "-m", "logview.cli", "tail", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
        env=planted_env(),
        check=False,
    )
    assert res.returncode == 1
    failed = [line for line in res.stderr.splitlines() if ": failed: " in line]
    assert len(failed) == len(PROVIDERS)
    assert all("401" in line for line in failed)
    assert_no_key(res.stdout, res.stderr)


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_tail_with_the_right_planted_key_streams_without_showing_it(
    right_sim: Simulator, tmp_path: Path, fmt: str
) -> None:
    cfg = write_config(right_sim, tmp_path / "c.toml")
    proc = subprocess.Popen(
        [sys.executable, "-m", "logview.cli", "tail", "--format", fmt, "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=planted_env(),
    )
    names = {table["name"] for table in right_sim.demo_sources()}
    lines: list[str] = []
    seen: set[str] = set()
    everyone = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            seen.update(n for n in names if n in line)
            if seen == names:
                everyone.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    everyone.wait(30.0)  # on a loaded machine the slowest source may take a while
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=20)[1]
    reader.join(10.0)
    out = "".join(lines)
    assert proc.returncode == 0, err
    assert seen == names, names - seen  # every source streamed: the key was sent and accepted
    assert_no_key(out, err)


# --- the planted key: the TUI ----------------------------------------------------------------


async def _tui_outputs(sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, done: object) -> str:
    from logview.ui.app import LogviewApp

    for p in PROVIDERS:
        monkeypatch.setenv(env_name(p), PLANTED)
    specs = load_settings(write_config(sim, tmp_path / "c.toml")).sources
    app = LogviewApp(list(specs), stream=True)
    async with app.run_test(size=(160, 48)) as pilot:
        deadline = time.monotonic() + 15
        while not done(app) and time.monotonic() < deadline:  # type: ignore[operator]
            await pilot.pause(0.1)
        assert done(app)  # type: ignore[operator]
        app.save_screenshot(filename="shot.svg", path=str(tmp_path))
        exported = app.export_screenshot()
        statuses = " ".join(st.message for st in app.states.values())
        messages = " ".join(str(m) for m in app.store.message)
    svg = (tmp_path / "shot.svg").read_text()
    return "\n".join([svg, exported, statuses, messages])


async def test_tui_with_a_wrong_planted_key_never_shows_it(
    wrong_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def all_failed(app: object) -> bool:
        states = app.states  # type: ignore[attr-defined]
        return len(states) == len(PROVIDERS) and all(st.state is State.FAILED for st in states.values())

    out = await _tui_outputs(wrong_sim, tmp_path, monkeypatch, all_failed)
    assert "401" in out
    assert_no_key(out)


async def test_tui_with_the_right_planted_key_never_shows_it(
    right_sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def all_streaming(app: object) -> bool:
        return all(app.store.counts.get(t["name"], 0) > 0 for t in right_sim.demo_sources())  # type: ignore[attr-defined]

    out = await _tui_outputs(right_sim, tmp_path, monkeypatch, all_streaming)
    assert_no_key(out)


# --- redirects ----------------------------------------------------------------------------------


class LoopbackApp:
    """A Starlette app on its own 127.0.0.1 port: a different origin from any other."""

    def __init__(self, app: Starlette) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="critical", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture
def origins() -> Iterator[tuple[LoopbackApp, LoopbackApp, list[str | None]]]:
    """`a` redirects `/away/...` to `b` and `/home/...` to itself; both echo the Authorization they got."""
    seen: list[str | None] = []

    async def echo(request: Request) -> Response:
        seen.append(request.headers.get("authorization"))
        return JSONResponse({"authorization": request.headers.get("authorization")})

    b = LoopbackApp(Starlette(routes=[Route("/echo", echo)]))

    async def away(request: Request) -> Response:
        return RedirectResponse(f"{b.url}/echo", status_code=302)

    async def home(request: Request) -> Response:
        return RedirectResponse("/echo", status_code=302)

    a = LoopbackApp(
        Starlette(routes=[Route("/away/{rest:path}", away), Route("/home/{rest:path}", home), Route("/echo", echo)])
    )
    yield a, b, seen
    a.stop()
    b.stop()


async def test_a_followed_redirect_to_another_origin_drops_the_authorization(
    origins: tuple[LoopbackApp, LoopbackApp, list[str | None]],
) -> None:
    a, _, seen = origins
    client = _make_client(verify=True)
    try:
        auth = {"Authorization": f"Bearer {PLANTED}"}
        same = await client.get(f"{a.url}/home/x", headers=auth, follow_redirects=True)
        away = await client.get(f"{a.url}/away/x", headers=auth, follow_redirects=True)
    finally:
        await client.aclose()
    assert same.json() == {"authorization": f"Bearer {PLANTED}"}  # the header was sent at all
    assert away.json() == {"authorization": None}
    assert seen == [f"Bearer {PLANTED}", None]


async def test_streamer_client_does_not_follow_a_redirect_and_fails_clearly(
    origins: tuple[LoopbackApp, LoopbackApp, list[str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _, seen = origins
    spec = RunPodSource(
        provider="runpod",
        name="rp",
        base_url=f"{a.url}/away",
        endpoint_id="ep",
        worker_id="w",
        api_key_env="LV_REDIRECT_KEY",
    )
    monkeypatch.setenv("LV_REDIRECT_KEY", PLANTED)
    streamer = Streamer([spec])
    items: list[LogEvent | SourceStatus] = []

    async def run() -> None:
        async for batch in streamer.batches():
            items.extend(batch)

    await asyncio.wait_for(run(), timeout=10)  # a clear failure, not a hang
    failed = [i for i in items if isinstance(i, SourceStatus) and i.state is State.FAILED]
    assert len(failed) == 1 and "302" in failed[0].message
    assert_no_key(failed[0].message)
    assert seen == []  # nothing reached the other origin


# --- TLS ------------------------------------------------------------------------------------------


def _ctx(client: httpx.AsyncClient) -> ssl.SSLContext:
    ctx: ssl.SSLContext = client._transport._pool._ssl_context  # type: ignore[attr-defined]
    return ctx


def test_tls_is_verified_unless_the_source_is_insecure() -> None:
    safe = RunPodSource(provider="runpod", name="a", endpoint_id="ep", worker_id="w")
    loose = safe.model_copy(update={"name": "b", "insecure": True})
    streamer = Streamer([safe, loose], client=_make_client(verify=True))
    assert _ctx(streamer._client_for(safe)).verify_mode is ssl.CERT_REQUIRED
    assert _ctx(streamer._client_for(safe)).check_hostname
    assert _ctx(streamer._client_for(loose)).verify_mode is ssl.CERT_NONE


async def test_an_insecure_source_says_so_once_at_start(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = [
        s.model_copy(update={"insecure": s.provider == "runpod"})
        for s in sim.demo_specs()
        if s.provider in ("runpod", "fal")
    ]
    for k, v in sim.demo_env().items():
        monkeypatch.setenv(k, v)
    streamer = Streamer(specs)
    items: list[LogEvent | SourceStatus] = []
    live: set[str] = set()
    async for batch in streamer.batches():
        items.extend(batch)
        live |= {i.source for i in batch if isinstance(i, SourceStatus) and i.state is State.LIVE}
        if len(live) == 2:
            await streamer.close()
    notes = [i for i in items if isinstance(i, SourceStatus) and i.message == INSECURE_NOTE]
    runpod = next(s.name for s in specs if s.provider == "runpod")
    assert [(n.source, n.state) for n in notes] == [(runpod, State.INFO)]
