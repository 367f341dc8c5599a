"""config/schema.json and docs/configuration.md are generated from the config models and kept in step with them;
the schema accepts the example config and refuses what the models refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from slipway.models.config import Environment, Pipeline
from slipway_dev import config_reference
from tests.support.paths import CONFIG, ROOT


@pytest.mark.parametrize("relative", sorted(config_reference.generated(), key=str), ids=str)
def test_the_generated_reference_is_up_to_date(relative: Path) -> None:
    text = config_reference.generated()[relative]
    assert (ROOT / relative).read_text(encoding="utf-8") == text, "run `make config-reference`"


def test_check_mode_names_a_drifted_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path
    (root / "config").mkdir()
    (root / "docs").mkdir()
    assert config_reference.main(["--check"], root=root) == 1
    assert "config/schema.json" in capsys.readouterr().err
    assert config_reference.main([], root=root) == 0
    assert config_reference.main(["--check"], root=root) == 0


def test_every_field_is_documented_with_a_description() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for model, _ in config_reference.SECTIONS:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            assert f"| `{name}` |" in doc


def test_the_schema_accepts_the_example_and_refuses_unknown_keys() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "config" / "schema.json").read_text())
    example = yaml.safe_load((CONFIG / "pipelines" / "web-app.yaml").read_text())
    jsonschema.validate(example, schema)
    jsonschema.validate(config_reference.EXAMPLE, schema)
    broken = dict(example, environments=[dict(example["environments"][0], slack_chanel="#x")])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_pipeline_files_name_the_schema() -> None:
    for path in sorted((CONFIG / "pipelines").glob("*.yaml")):
        assert path.read_text(encoding="utf-8").splitlines()[0] == config_reference.MODELINE


def test_the_example_in_the_reference_is_a_valid_pipeline() -> None:
    pipeline = Pipeline.model_validate(config_reference.EXAMPLE)
    assert isinstance(pipeline.environments[1], Environment)
    assert pipeline.environments[1].needs_approval()
