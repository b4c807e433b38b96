#!/usr/bin/env python3
"""Project tasks with nothing but Python 3.11+: `python3 dev.py demo | test | ...`.

It makes its own virtual environment in .venv (once), installs logview and
its development tools into it, and runs the task there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed"


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py must also speak to older Pythons
        sys.exit(f"logview needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print("dev.py: creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pyproject = (ROOT / "pyproject.toml").stat().st_mtime
    if not STAMP.exists() or STAMP.stat().st_mtime < pyproject:
        print("dev.py: installing logview and its dev tools into .venv ...", file=sys.stderr)
        run(
            [
                str(BIN / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-e",
                f"{ROOT}[dev]",
            ]
        )
        STAMP.touch()


def lint_paths() -> list[str]:
    return [p for p in ("logview", "tests", "benchmarks", "scripts", "dev.py") if (ROOT / p).exists()]


def run(cmd: list[str]) -> None:
    code = subprocess.call(cmd, cwd=ROOT)
    if code:
        sys.exit(code)


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "help"
    rest = sys.argv[2:]
    if task == "demo":
        ensure_env()
        os.execv(str(BIN / "logview"), [str(BIN / "logview"), "--demo", *rest])
    elif task == "test":
        ensure_env()
        py = str(BIN / "python")
        run([py, "-m", "ruff", "check", *lint_paths()])
        run([py, "-m", "mypy"])
        run([py, "-m", "pytest", "-q", *rest])
    elif task == "lint":
        ensure_env()
        run([str(BIN / "python"), "-m", "ruff", "check", "--fix", *lint_paths()])
    elif task == "bench":
        ensure_env()
        run([str(BIN / "python"), "-m", "benchmarks", *rest])
    else:
        print(__doc__)
        print("tasks: demo [ARGS], test [PYTEST ARGS], lint, bench")


if __name__ == "__main__":
    main()
