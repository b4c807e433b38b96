"""Shared fixtures: a simulator on loopback, and an httpx client for it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from logview.sim.server import SimParams, Simulator

T0 = 1_780_000_000.0  # a fixed clock for record timestamps (2026-05-28)


@pytest.fixture
def sim_params() -> SimParams:
    """Fast, finite, deterministic: 400 records/s per source, history of 50."""
    return SimParams(seed=42, rate=400.0, total=None, t0=time.time(), backlog=50)


@pytest.fixture
def sim(sim_params: SimParams) -> Iterator[Simulator]:
    with Simulator(sim_params) as s:
        yield s


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c
