"""Where training finds its data and writes its models."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
RUNS_DIR = REPO_ROOT / "runs"


def default_data_dir() -> Path:
    """`$DLSERVE_DATA` if set, else `../shared/data` next to the checkout when it exists."""
    env = os.environ.get("DLSERVE_DATA")
    if env:
        return Path(env)
    for candidate in (REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "no data directory: pass --data-dir, set DLSERVE_DATA, or place the datasets in ../shared/data"
    )
