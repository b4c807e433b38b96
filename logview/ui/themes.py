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

from pydantic import BaseModel, ConfigDict, ValidationError
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


class ThemeFile(BaseModel):
    """A theme file's keys (Textual's Theme fields plus level colours in [variables])."""

    model_config = ConfigDict(extra="forbid")

    name: str
    dark: bool = True
    primary: str
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    success: str | None = None
    warning: str | None = None
    error: str | None = None
    variables: dict[str, str] = {}


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
    try:
        spec = ThemeFile.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "file"
        raise ValueError(f"{where}: {err['msg']}") from None
    colours = spec.model_dump(exclude={"name", "dark", "variables"}, exclude_none=True)
    for key, value in {**colours, **spec.variables}.items():
        try:
            Color.parse(value)
        except ColorParseError:
            raise ValueError(f"{key}: '{value}' is not a colour") from None
    variables = {**VARIABLE_DEFAULTS, **spec.variables}
    return Theme(name=spec.name, dark=spec.dark, variables=variables, **colours)


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
