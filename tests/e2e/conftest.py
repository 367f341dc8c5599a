"""e2e fixtures: the real template and state machine, run by moto's interpreter inside the embedded local cloud.

``local_cloud`` runs the real handlers (functions/<dir>/app.py) with CodeDeploy finishing at once and Step
Functions Wait states and Retry intervals taking no time. ``local_cloud_factory(**options)`` starts one with other
options (``functions_dir``, ``fail_deployments``, ``codedeploy_delay``, ...); every cloud is stopped after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from slipway_dev.local.cloud import LocalCloud

STANDINS = Path(__file__).parent / "standins"

FAST = {"codedeploy_delay": 0.0, "time_scale": 0.0, "log_level": "WARNING"}


@pytest.fixture
def local_cloud_factory() -> Iterator[Callable[..., LocalCloud]]:
    clouds: list[LocalCloud] = []

    def start(**options: Any) -> LocalCloud:
        cloud = LocalCloud(**{**FAST, **options})
        clouds.append(cloud)
        return cloud.start()

    yield start
    for cloud in reversed(clouds):
        cloud.stop()


@pytest.fixture
def local_cloud(local_cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    """A started LocalCloud running the real handlers, CodeDeploy delay 0, Step Functions waits instant."""
    return local_cloud_factory()


@pytest.fixture
def standin_cloud(local_cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    """The same cloud with the small stand-in handlers of tests/e2e/standins (tests of the harness itself)."""
    return local_cloud_factory(functions_dir=STANDINS)
