"""Placeholder: the Chronoverse simulation is being written."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from logview.sim.server import SimParams


class ChronoverseSim:
    def __init__(self, params: SimParams, key: str) -> None:
        self.params = params
        self.key = key

    def routes(self) -> list[BaseRoute]:
        return []

    def demo_source(self, base_url: str) -> dict[str, Any]:
        return {"provider": "chronoverse", "base_url": base_url}
