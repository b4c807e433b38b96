"""Themes: the shipped TOML files and the user's own, as Textual `Theme`s.

Level colours are theme variables (`level-error`, ...), so a theme file
changes them like any other colour. A broken user file is reported, never
fatal: the other themes still load.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

SHIPPED = Path(__file__).resolve().parent.parent / "themes"
DEFAULT_THEME = "logview-dark"
VARIABLE_DEFAULTS = {
    "level-trace": "#6c7480",
    "level-debug": "#7fb4d8",
    "level-info": "#87d787",
    "level-warn": "#ffd75f",
    "level-error": "#ff6b6b",
    "level-fatal": "#ff4fa0",
    "log-time": "#7a8290",
    "log-marker": "#b48ead",
    "log-match": "#3a3000",
    "log-cursor": "#2a3444",
}


COLOURS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
"""A theme file's colours, named as Textual's Theme fields; `primary` is required."""
_KEYS: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "dark": (bool, "true or false"),
    "variables": (dict, "a table of colours"),
    **{colour: (str, "a string") for colour in COLOURS},
}


def _checked(raw: dict[str, Any]) -> tuple[str, bool, dict[str, str], dict[str, str]]:
    """A theme file's name, dark flag, colours and [variables]; ValueError naming the key at fault."""
    for key, value in raw.items():
        if key not in _KEYS:
            raise ValueError(f"{key}: not a theme key")
        kind, said = _KEYS[key]
        if not isinstance(value, kind) or (
            isinstance(value, dict) and not all(isinstance(v, str) for v in value.values())
        ):
            raise ValueError(f"{key}: should be {said}")
    for key in ("name", "primary"):
        if key not in raw:
            raise ValueError(f"{key}: missing")
    return raw["name"], raw.get("dark", True), {k: raw[k] for k in COLOURS if k in raw}, raw.get("variables", {})


def user_theme_dir() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "logview" / "themes"


def load_theme(path: Path) -> Theme:
    """One theme file; raises ValueError with a one-line reason."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"not valid TOML: {e}") from None
    name, dark, colours, own = _checked(raw)
    for key, value in {**colours, **own}.items():
        try:
            Color.parse(value)
        except ColorParseError:
            raise ValueError(f"{key}: '{value}' is not a colour") from None
    return Theme(name=name, dark=dark, variables={**VARIABLE_DEFAULTS, **own}, **colours)  # type: ignore[arg-type]


def load_themes(extra_dirs: list[Path] | None = None) -> tuple[list[Theme], list[str]]:
    """Shipped themes then user themes; the second list holds one line per broken file."""
    themes: list[Theme] = []
    errors: list[str] = []
    dirs = [SHIPPED, user_theme_dir(), *(extra_dirs or [])]
    for d in dirs:
        if not d.is_dir():
            continue
        for path in sorted(d.glob("*.toml")):
            try:
                themes.append(load_theme(path))
            except ValueError as e:
                errors.append(f"theme {path.name}: {e}")
    return themes, errors
