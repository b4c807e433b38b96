"""Command line: `logview [SOURCES]`, `logview tail`, `logview demo-server`."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from logview import __version__
from logview.errors import ConfigError

if TYPE_CHECKING:
    from logview.config import Settings

EPILOG = """\
sources:
  runpod://ENDPOINT/WORKER?tail=500      RunPod serverless worker (RUNPOD_API_KEY)
  fal://?app_id=my-app&level=error       fal serverless logs (FAL_KEY)
  feldera://PIPELINE?base_url=URL        Feldera pipeline (FELDERA_API_KEY, optional)
  chronoverse://WORKFLOW/JOB             Chronoverse job (CHRONOVERSE_TOKEN)
  goldrush://PIPELINE                    GoldRush pipeline (GOLDRUSH_SERVICE_KEY)
  PATH                                   a file, followed
  -                                      standard input
  NAME                                   a source named in the config file

config: --config FILE, else $LOGVIEW_CONFIG, else $XDG_CONFIG_HOME/logview/config.toml
"""


@contextlib.contextmanager
def _without_pydantic_plugins() -> Iterator[None]:
    """Pydantic looks for plugins, in every installed package's entry points
    (~15 ms), whenever it builds a validator, unless told not to; logview uses
    none. The variable is put back for child processes."""
    before = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = before


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="*", metavar="SOURCE", help="source URIs, files, - for stdin, or configured names")
    p.add_argument("--config", metavar="FILE", help="config file (TOML)")
    p.add_argument("--demo", action="store_true", help="follow the embedded simulator of all five APIs")
    p.add_argument("--rate", type=float, default=8.0, help="demo: lines per second per source (default 8)")
    p.add_argument("--seed", type=int, default=7, help="demo: content seed")
    p.add_argument("--max-lines", type=int, default=None, help="events kept in memory (default 1,000,000)")


def build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    fmt = argparse.RawDescriptionHelpFormatter
    main = argparse.ArgumentParser(
        prog="logview",
        description="Follow live logs from RunPod, fal, Feldera, Chronoverse, GoldRush, files and stdin.",
        epilog=EPILOG + "\ncommands:\n  logview tail ...         headless: stream to stdout\n"
        "  logview demo-server ...  run the simulator alone\n",
        formatter_class=fmt,
    )
    main.add_argument("--version", action="version", version=f"logview {__version__}")
    _common(main)
    main.add_argument("--theme", default=None, help="theme name (see README, Themes)")
    tail = argparse.ArgumentParser(
        prog="logview tail",
        description="Stream events to stdout, statuses to stderr.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    _common(tail)
    tail.add_argument("--format", choices=["text", "jsonl"], default="text", help="output format (default text)")
    server = argparse.ArgumentParser(
        prog="logview demo-server", description="Run the simulator of all five APIs on loopback."
    )
    server.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    server.add_argument("--rate", type=float, default=8.0, help="lines per second per source")
    server.add_argument("--seed", type=int, default=7)
    server.add_argument(
        "--chaos",
        metavar="SPEC",
        type=_chaos_spec,
        default=None,
        help="inject seeded faults, e.g. cut=0.02,stall=0.005:3,status=0.01:429|503,malformed=0.005,drip=0.01,seed=7"
        " (grammar: logview/sim/chaos.py)",
    )
    return main, tail, server


def resolve_sources(settings: Settings, args: Sequence[str], demo_specs: Sequence[Any] = ()) -> list[Any]:
    """Configured sources, narrowed to the named ones, plus URIs from the command line."""
    from logview.config import finalize_names, parse_source_uri

    configured = list(settings.sources) + list(demo_specs)
    by_name = {s.name: s for s in configured}
    chosen: list[Any] = []
    extra: list[Any] = []
    for arg in args:
        if arg in by_name:
            chosen.append(by_name[arg])
        else:
            extra.append(parse_source_uri(arg))
    if not args:
        chosen = configured
    elif not chosen and demo_specs:
        chosen = list(demo_specs)
    specs = chosen + finalize_names(extra, taken=[s.name for s in chosen])
    names = [s.name for s in specs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ConfigError(f"two sources are named '{sorted(dup)[0]}': give one a name in the config file")
    return specs


def _start_demo(rate: float, seed: int) -> tuple[Any, list[Any]]:
    from logview.sim.server import SimParams, Simulator

    # 20 s of history per source, at most 2,000 lines: a fast demo starts live, not replaying
    sim = Simulator(SimParams(seed=seed, rate=rate, backlog=min(int(rate * 20), 2000)))
    sim.start()
    os.environ.update(sim.demo_env())
    return sim, sim.demo_specs()


def _load(ns: argparse.Namespace) -> tuple[Settings, list[Any], Any]:
    from dataclasses import replace

    from logview.config import config_path, load_settings

    settings = load_settings(config_path(ns.config))
    for warning in settings.warnings:
        print(f"logview: warning: {warning}", file=sys.stderr)
    if ns.max_lines is not None:
        if ns.max_lines < 1000:
            raise ConfigError("--max-lines must be at least 1000")
        settings = replace(settings, max_lines=ns.max_lines)
    sim = None
    demo: list[Any] = []
    if ns.demo:
        sim, demo = _start_demo(ns.rate, ns.seed)
    specs = resolve_sources(settings, ns.sources, demo)
    if not specs:
        raise ConfigError(
            "no sources: pass a source (e.g. runpod://ENDPOINT/WORKER, a file, or - for stdin), "
            "list them in a config file, or try --demo"
        )
    return settings, specs, sim


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    main_p, tail_p, server_p = build_parsers()
    try:
        if argv[:1] == ["tail"]:
            ns = tail_p.parse_args(argv[1:])
            with _without_pydantic_plugins():
                _, specs, sim = _load(ns)
            from logview.tail import run_tail

            try:
                import asyncio

                return asyncio.run(run_tail(specs, ns.format))
            finally:
                if sim is not None:
                    sim.stop()
        if argv[:1] == ["demo-server"]:
            return _demo_server(server_p.parse_args(argv[1:]))
        ns = main_p.parse_args(argv)
        with _without_pydantic_plugins():
            settings, specs, sim = _load(ns)
            _read_ends_ahead(specs)
            _import_adapters(specs)
            from logview.ui.app import run_app

        try:
            with _sigterm_as_sigint():
                rc: int = run_app(specs, settings, theme=ns.theme)
            return rc
        finally:
            if sim is not None:
                sim.stop()
    except ConfigError as e:
        print(f"logview: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _read_ends_ahead(specs: Sequence[Any]) -> None:
    """Start reading the ends of big files now, while the UI loads (~0.5 s): the
    TUI shows a file's end first (see `FileProvider.tail_first`), and what that
    takes, counting the lines before the end, is then done when it connects."""
    paths = [spec.path for spec in specs if spec.provider == "file"]
    if paths:
        from logview.providers.local import read_end_ahead

        for path in paths:
            read_end_ahead(path)


def _import_adapters(specs: Sequence[Any]) -> None:
    """Import the sources' adapters (and the HTTP client they share) before the UI.

    The stream's thread would import them while the UI draws its first frame:
    there, every file an import reads hands the GIL to the UI thread and waits
    to get it back, so the same imports take several times as long.
    """
    from logview.providers import provider_class

    for kind in {spec.provider for spec in specs}:
        provider_class(kind)
    if any(spec.provider not in ("file", "stdin") for spec in specs):
        import httpx  # noqa: F401


@contextlib.contextmanager
def _sigterm_as_sigint() -> Iterator[None]:
    """SIGTERM quits the TUI as SIGINT does: through the app's shutdown, which restores the terminal.

    Unhandled, SIGTERM would kill the process with the terminal still in the
    alternate screen, the cursor hidden and mouse reporting on.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: object) -> None:
        signal.raise_signal(signal.SIGINT)

    before = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _chaos_spec(text: str) -> Any:
    from logview.sim.chaos import ChaosSpec

    try:
        return ChaosSpec.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _demo_server(ns: argparse.Namespace) -> int:
    import time

    from logview.sim.server import SimParams, Simulator

    sim = Simulator(SimParams(seed=ns.seed, rate=ns.rate, backlog=int(ns.rate * 20)), chaos=ns.chaos)
    sim.start(ns.port)
    print(sim.config_toml(), flush=True)
    print(f"# serving on {sim.base_url} — Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
