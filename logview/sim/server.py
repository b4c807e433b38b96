"""The embedded simulator: all five APIs on one loopback port.

A real HTTP server (Starlette on uvicorn) in a background thread, so the
demo, the tests and the benchmarks all exercise real sockets, real chunked
encoding and real SSE framing. Each provider lives in its own module and
is mounted here.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from logview.sim.chaos import Chaos, ChaosSpec


@dataclass
class SimParams:
    """What every provider simulation shares.

    Records are scheduled at `t0 + i / rate`; record `i` is a pure function of
    (seed, i), so a test can compute exactly what the server sent.
    """

    seed: int = 7
    rate: float = 5.0
    """Records per second per source (the benchmark's knob)."""
    total: int | None = None
    """Stop after this many records per source (None: forever)."""
    t0: float = field(default_factory=time.time)
    """Epoch seconds of record 0; fix it for deterministic timestamps."""
    backlog: int = 0
    """Records that already exist at start (history to backfill)."""

    def available(self) -> int:
        """How many records exist now (scheduled at or before the present)."""
        n = self.backlog + int((time.time() - self.t0) * self.rate) + 1
        if n < 0:
            n = 0
        return n if self.total is None else min(n, self.total)

    def ts_of(self, i: int) -> float:
        return self.t0 + (i - self.backlog) / self.rate

    def wait_for(self, i: int) -> float:
        """Seconds until record i exists (0 when it does)."""
        return max(0.0, self.ts_of(i) - time.time())


class ProviderSim(Protocol):
    """What each provider simulation offers the server."""

    def routes(self) -> list[BaseRoute]: ...

    def demo_source(self, base_url: str) -> dict[str, Any]: ...


DEMO_KEYS = {
    "runpod": "rp_demo_key_0123456789",
    "fal": "demo_key_id:demo_key_secret",
    "feldera": "apikey:demo-feldera-key",
    "chronoverse": "cv_demo_token",
    "goldrush": "cqt_service_demo_key",
}
"""The keys the simulator accepts. Demo-only: they open nothing real."""


class Simulator:
    """All five provider simulations behind one server.

    >>> with Simulator(rate=50) as sim:
    ...     specs = sim.demo_specs()
    """

    def __init__(
        self,
        params: SimParams | None = None,
        *,
        chaos: ChaosSpec | None = None,
        keys: dict[str, str] | None = None,
        **kw: Any,
    ) -> None:
        from logview.sim import chronoverse, fal, feldera, goldrush, runpod

        self.params = params or SimParams(**kw)
        self.keys = {**DEMO_KEYS, **(keys or {})}
        """The key each provider accepts: DEMO_KEYS unless a test plants its own."""
        self.runpod = runpod.RunPodSim(self.params, self.keys["runpod"])
        self.fal = fal.FalSim(self.params, self.keys["fal"])
        self.feldera = feldera.FelderaSim(self.params, self.keys["feldera"])
        self.chronoverse = chronoverse.ChronoverseSim(self.params, self.keys["chronoverse"])
        self.goldrush = goldrush.GoldRushSim(self.params, self.keys["goldrush"])
        self.providers: list[ProviderSim] = [self.runpod, self.fal, self.feldera, self.chronoverse, self.goldrush]
        self.chaos = chaos
        """Seeded faults for every provider (each draws its own; see logview.sim.chaos)."""
        if chaos is not None:
            for name in DEMO_KEYS:
                getattr(self, name).chaos = Chaos(chaos, name)
        routes: list[BaseRoute] = []
        for p in self.providers:
            routes.extend(p.routes())
        self.app = Starlette(routes=routes)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self, port: int = 0) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: a small answer written after its headers is sent
        # at once, not held for the client's delayed ACK (40 ms a small GoldRush status answer)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
        config = uvicorn.Config(
            self.app, log_level="critical", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="logview-sim", daemon=True
        )
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def demo_sources(self) -> list[dict[str, Any]]:
        """One config table per provider, pointing at this server."""
        return [p.demo_source(self.base_url) for p in self.providers]

    def demo_env(self) -> dict[str, str]:
        """Environment variables holding the keys the simulator accepts (see DEMO_KEYS)."""
        return {f"LOGVIEW_DEMO_{k.upper()}_KEY": v for k, v in self.keys.items()}

    def demo_specs(self) -> list[Any]:
        from logview.config import finalize_names, source_from_table

        specs = []
        for table in self.demo_sources():
            table = {**table, "api_key_env": f"LOGVIEW_DEMO_{table['provider'].upper()}_KEY"}
            specs.append(source_from_table(table))
        return finalize_names(specs)

    def config_toml(self) -> str:
        """A config file a user can paste (keys go in the environment, not here)."""
        out = [f"# logview demo-server on {self.base_url}", "# export these first:"]
        out += [f"#   export {k}={v}" for k, v in self.demo_env().items()]
        for table in self.demo_sources():
            table = {**table, "api_key_env": f"LOGVIEW_DEMO_{table['provider'].upper()}_KEY"}
            out.append("\n[[sources]]")
            for k, v in table.items():
                out.append(f"{k} = {_toml(v)}")
        return "\n".join(out) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
