"""A copy of what a checkout of the repository holds for building tuneline (and running its action), in a temporary
folder, so that builds and pip never write `build/` or `*.egg-info` into the working tree."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FILES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "action.yml", ".pre-commit-hooks.yaml")
FOLDERS = ("server", "training", "docs", "scripts")


def copy_source(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(REPO / name, dest / name)
    for name in FOLDERS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest
