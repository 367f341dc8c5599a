"""The recorder stand-in (tests/e2e/standins/recorder/app.py): one handler file for every function of the
template, for the tests of the local cloud itself. ``recorder_options`` starts a LocalCloud on it; ``recorded``
reads back what a function received (its docstring says how to make it raise)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slipway_dev.local.cloud import LocalCloud

RECORDER = Path(__file__).parent / "standins" / "recorder" / "app.py"
RECORDER_DIR_ENV = "SLIPWAY_RECORDER_DIR"


def recorder_options(folder: Path, **options: Any) -> dict[str, Any]:
    """LocalCloud options that run every function from the recorder, recording into ``folder/recorded``."""
    return {"handler_file": RECORDER, "extra_env": {RECORDER_DIR_ENV: str(folder / "recorded")}, **options}


def recorded(cloud: LocalCloud, function: str) -> list[dict[str, Any]]:
    """Every invocation of ``function`` (logical id) so far, oldest first: the event and the context it got."""
    folder = Path(cloud.extra_env[RECORDER_DIR_ENV]) / function
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []  # named <time>-<id>.json: oldest first
    return [json.loads(path.read_text()) for path in files]
