"""e2e fixtures: the real template and state machine, run by moto's interpreter inside the embedded local cloud.

``local_cloud`` runs the real handlers (functions/<dir>/app.py) with CodeDeploy finishing at once and Step
Functions Wait states and Retry intervals taking no time. ``local_cloud_factory(**options)`` starts one with other
options (``fail_deployments``, ``codedeploy_delay``, ``state_dir``, ...); every cloud is stopped after the test.
``recorder_cloud`` runs every function from the recorder stand-in instead (tests of the harness itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.recorder_support import recorder_options

from slipway_dev.local.cloud import LocalCloud

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
def recorder_cloud(local_cloud_factory: Callable[..., LocalCloud], tmp_path: Path) -> LocalCloud:
    """The same cloud with every function run by the recorder stand-in (tests/e2e/recorder_support.py)."""
    return local_cloud_factory(**recorder_options(tmp_path))
