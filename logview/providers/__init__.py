"""Provider adapters: one module per API, all behind `Provider` (see base.py)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from logview.providers.base import Provider

if TYPE_CHECKING:
    import httpx

_CLASSES = {
    "runpod": ("logview.providers.runpod", "RunPodProvider"),
    "fal": ("logview.providers.fal", "FalProvider"),
    "feldera": ("logview.providers.feldera", "FelderaProvider"),
    "chronoverse": ("logview.providers.chronoverse", "ChronoverseProvider"),
    "goldrush": ("logview.providers.goldrush", "GoldRushProvider"),
    "file": ("logview.providers.local", "FileProvider"),
    "stdin": ("logview.providers.local", "StdinProvider"),
}


def provider_class(kind: str) -> type[Provider]:
    module, name = _CLASSES[kind]
    cls: type[Provider] = getattr(importlib.import_module(module), name)
    return cls


def create(spec: Any, client: httpx.AsyncClient | None, secret: str | None) -> Provider:
    """The adapter for a validated source spec."""
    return provider_class(spec.provider)(spec, client, secret)


__all__ = ["Provider", "create", "provider_class"]
