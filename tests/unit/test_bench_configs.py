"""The bench's generated configs hold exactly the pipelines they generate, whatever else the example config has
(its second pipeline once made the config-load figure count 501 and stop); the cold-import figure imports the
handlers with the environment the template gives them."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.faults import bench_config
from bench.generated import generate_config, pipeline_name
from bench.run import LAMBDA_ENV

from slipway.domain.config import LocalConfigSource, load_config
from slipway_dev.template import load_template

pytestmark = pytest.mark.unit


def test_a_generated_config_has_only_its_generated_pipelines(tmp_path: Path) -> None:
    config = load_config(LocalConfigSource(generate_config(tmp_path, 4, environments=3)))
    assert sorted(config.pipelines) == [pipeline_name(n) for n in range(4)]
    assert [env.name for env in config.pipeline(pipeline_name(0)).environments] == ["staging", "preprod", "production"]


def test_the_fault_bench_config_has_only_its_lanes(tmp_path: Path) -> None:
    config = load_config(LocalConfigSource(bench_config(tmp_path, 2)))
    assert sorted(config.pipelines) == ["lane-0", "lane-0-fail", "lane-1", "lane-1-fail"]


def test_the_cold_import_figure_sees_the_template_environment() -> None:
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert set(variables) - {"AWS_ENDPOINT_URL", "SLIPWAY_SLACK_API_URL", "POWERTOOLS_LOG_LEVEL"} <= set(LAMBDA_ENV)
    literal = {name: value for name, value in variables.items() if isinstance(value, str)}
    assert literal == {name: LAMBDA_ENV[name] for name in literal}
