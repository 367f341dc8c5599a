"""e2e fixtures: the real template and state machine, run by moto's interpreter inside the embedded local cloud.

``local_cloud`` runs the real handlers (functions/<dir>/app.py) with CodeDeploy finishing at once and Step
Functions Wait states and Retry intervals taking no time. ``local_cloud_factory(**options)`` starts one with other
options (``fail_deployments``, ``codedeploy_delay``, ``state_dir``, ...); every cloud is stopped after the test.
``recorder_cloud`` runs every function from the recorder stand-in instead (tests of the harness itself).
``published_cloud`` is ``local_cloud`` twice: as publish-config leaves the bucket (the compiled config beside the
files), and as an older publish did (the YAML files alone: every function falls back to listing and reading them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.recorder_support import recorder_options

from slipway.adapters.s3 import split_s3_uri
from slipway.models.compiled import COMPILED_FILE
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


@pytest.fixture(params=["compiled", "yaml-files-only"])
def published_cloud(local_cloud: LocalCloud, request: pytest.FixtureRequest) -> LocalCloud:
    if request.param == "yaml-files-only":
        bucket, prefix = split_s3_uri(local_cloud.world.config_location)
        local_cloud.client("s3").delete_object(Bucket=bucket, Key=f"{prefix}/{COMPILED_FILE}")
    return local_cloud
