#!/usr/bin/env python3
"""Regenerate the README's screenshots (SVG) from the demo.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Runs the real app headless against the seeded simulator at fixed sizes,
presses keys as a user would, and saves one SVG per view. The content is
seeded; only the clock differs from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from logview.sim.server import SimParams, Simulator
from logview.ui.app import LogviewApp

Steps = Callable[[Pilot[int]], Awaitable[None]]


async def _keys(pilot: Pilot[int], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause(0.15)


async def main_view(pilot: Pilot[int]) -> None:
    await pilot.pause(0.1)


async def search(pilot: Pilot[int]) -> None:
    await _keys(pilot, "slash", *"model", "enter")
    await pilot.pause(0.6)


async def filter_level(pilot: Pilot[int]) -> None:
    await _keys(pilot, "f", *"level:warn", "enter")
    await pilot.pause(0.6)


async def pod_tab(pilot: Pilot[int]) -> None:
    await _keys(pilot, "2")
    await pilot.pause(0.6)


async def help_screen(pilot: Pilot[int]) -> None:
    await _keys(pilot, "question_mark")


SHOTS: list[tuple[str, tuple[int, int], str | None, Steps]] = [
    ("main", (160, 45), None, main_view),
    ("search", (140, 40), None, search),
    ("filter-level", (140, 40), None, filter_level),
    ("pod-tabs", (140, 40), None, pod_tab),
    ("light-theme", (140, 40), "logview-light", main_view),
    ("small-80x24", (80, 24), None, main_view),
    ("help", (120, 40), None, help_screen),
]


async def shoot(out: Path) -> None:
    with Simulator(SimParams(seed=7, rate=12.0, backlog=120)) as sim:
        os.environ.update(sim.demo_env())
        for name, size, theme, steps in SHOTS:
            app = LogviewApp(sim.demo_specs(), theme=theme)
            async with app.run_test(size=size) as pilot:
                await pilot.pause(3.0)  # connect, backfill, a few live seconds
                await steps(pilot)
                path = app.save_screenshot(filename=f"{name}.svg", path=str(out))
                print(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "screenshots"))
    ns = parser.parse_args()
    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(out))


if __name__ == "__main__":
    main()
