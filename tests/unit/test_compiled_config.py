"""The compiled config (``compiled/config.json``): written from a validated folder, read by the functions with each
pipeline validated at its first look-up only; a missing or other-format file falls back to the YAML files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from slipway.domain import config as config_module
from slipway.domain.config import LocalConfigSource, load_config, load_published_config
from slipway.errors import ConfigError
from slipway.models.compiled import COMPILED_FILE, FORMAT_VERSION
from slipway.models.config import Pipeline
from slipway_dev.compiled import compiled_config
from tests.support.logs import json_logs
from tests.support.paths import CONFIG

PIPELINES = 50


def many_pipelines(tmp_path: Path, count: int = PIPELINES) -> Path:
    """The example config with ``count`` pipelines, each its own repository, compiled beside its files."""
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    for other in (root / "pipelines").glob("*.yaml"):  # the example's other pipelines: only web-app is copied
        if other.name != "web-app.yaml":
            other.unlink()
    example = (root / "pipelines" / "web-app.yaml").read_text()
    for n in range(count - 1):
        text = example.replace("name: web-app", f"name: svc-{n:03d}").replace("app-images", f"svc-{n:03d}")
        (root / "pipelines" / f"svc-{n:03d}.yaml").write_text(text)
    compile_into(root)
    return root


def compile_into(root: Path) -> Path:
    target = root / COMPILED_FILE
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(compiled_config(root))
    return target


@pytest.fixture(autouse=True)
def _warn_again() -> None:
    config_module._WARNED.clear()  # each test's location is told once, as a fresh process would be


def test_only_the_looked_up_pipeline_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = many_pipelines(tmp_path)
    validated: list[str] = []
    original = Pipeline.model_validate
    monkeypatch.setattr(Pipeline, "model_validate", lambda data: validated.append(data["name"]) or original(data))
    config = load_published_config(LocalConfigSource(root))
    assert validated == []
    assert len(config.pipelines) == PIPELINES and "svc-007" in config.pipelines
    (pipeline,) = config.for_repository("svc-007")
    assert config.for_repository("svc-007") == [pipeline]
    assert config.pipeline("svc-007") is pipeline
    assert config.for_repository("no-such-repository") == []
    assert validated == ["svc-007"]  # once, then kept


def test_the_compiled_config_is_the_yaml_config(tmp_path: Path) -> None:
    root = many_pipelines(tmp_path, 3)
    from_yaml = load_config(LocalConfigSource(root))
    compiled = load_published_config(LocalConfigSource(root))
    assert list(compiled.pipelines) == list(from_yaml.pipelines)
    assert all(compiled.pipeline(name) == from_yaml.pipeline(name) for name in from_yaml.pipelines)
    assert compiled.for_repository("app-images") == from_yaml.for_repository("app-images")
    assert compiled.people == from_yaml.people
    document = json.loads((root / COMPILED_FILE).read_text())
    assert document["format"] == FORMAT_VERSION
    assert document["pipelines"][0]["file"] == "pipelines/svc-000.yaml"
    assert len(document["sources_sha256"]) == 64


def test_the_sources_hash_follows_every_file_but_the_compiled_one(tmp_path: Path) -> None:
    root = many_pipelines(tmp_path, 1)
    first = json.loads(compile_into(root).read_text())["sources_sha256"]
    assert json.loads(compile_into(root).read_text())["sources_sha256"] == first
    (root / "taskdefs" / "app-task.json").write_text('{"family": "changed"}')
    assert json.loads(compile_into(root).read_text())["sources_sha256"] != first


def test_a_pipeline_invalid_in_the_compiled_file_fails_at_its_look_up_naming_its_file(tmp_path: Path) -> None:
    root = many_pipelines(tmp_path, 2)
    path = root / COMPILED_FILE
    document = json.loads(path.read_text())
    entry = next(e for e in document["pipelines"] if e["pipeline"]["name"] == "web-app")
    entry["pipeline"]["environments"][0]["cluster"] = ""  # hand-edited after publishing
    path.write_text(json.dumps(document))
    config = load_published_config(LocalConfigSource(root))
    assert config.for_repository("svc-000")  # another pipeline is unaffected
    with pytest.raises(ConfigError) as error:
        config.for_repository("app-images")
    assert str(error.value) == (
        f"{path} (pipelines/web-app.yaml): environments[0].cluster: String should have at least 1 character"
    )


@pytest.mark.parametrize(
    ("compiled", "reason"),
    [
        (None, "file not found"),
        ({"format": FORMAT_VERSION + 1, "pipelines": []}, f"format {FORMAT_VERSION + 1}, this code reads format"),
        ("{not json", "not valid JSON"),
        ({"format": FORMAT_VERSION, "pipelines": [{"pipeline": {}}]}, "not a compiled config"),
    ],
)
def test_a_missing_or_unusable_compiled_file_falls_back_to_the_yaml_files_said_once(
    tmp_path: Path, compiled: object, reason: str
) -> None:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    if compiled is not None:
        (root / "compiled").mkdir()
        text = compiled if isinstance(compiled, str) else json.dumps(compiled)
        (root / COMPILED_FILE).write_text(text)
    with json_logs() as logs:
        first = load_published_config(LocalConfigSource(root))
        load_published_config(LocalConfigSource(root))
    assert first.pipeline("web-app").repository == "app-images"
    assert not hasattr(first.pipelines, "for_repository")  # the YAML files' plain dictionary
    warnings: list[dict[str, Any]] = [line for line in logs.lines() if line["level"] == "WARNING"]
    assert [w["compiled_config"] for w in warnings] == [str(root / COMPILED_FILE)]
    assert reason in warnings[0]["reason"]
    assert "publish-config" in warnings[0]["message"]


def test_an_invalid_folder_is_not_compiled(tmp_path: Path) -> None:
    root = tmp_path / "config"
    shutil.copytree(CONFIG, root)
    (root / "pipelines" / "broken.yaml").write_text("name: broken\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        compiled_config(root)
