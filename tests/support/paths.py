"""Where things are, and the sample events of events/ (the same files `sam local invoke -e` uses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
CONFIG = ROOT / "config"
FUNCTIONS = ROOT / "functions"


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data
