"""Where the course's data live: ``data/`` at the repository root (or ``$T2I_DATA_DIR``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The shipped data folder (``data/`` next to ``t2ilib/``), overridable with ``$T2I_DATA_DIR``."""
    return Path(os.environ.get("T2I_DATA_DIR", REPO_ROOT / "data"))


def cache_dir() -> Path:
    """Where optional full-size datasets and downloads go (``data/full``, never committed)."""
    return Path(os.environ.get("T2I_CACHE_DIR", data_dir() / "full"))


def checkpoint_dir() -> Path:
    return data_dir() / "checkpoints"
