"""One set of versions: the lock files agree with their lists, and the tests run exactly the layer's pins.

`sam build` installs layers/slipway/requirements.txt into the layer (hashes required), so a test run whose
packages match that lock has run what Lambda runs. `make build` checks the built layer the same way
(`python -m slipway_dev.locks layer ...`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from slipway_dev.locks import (
    DEV_LOCK,
    RUNTIME_IN,
    RUNTIME_LOCK,
    Pin,
    applicable,
    drift,
    installed_versions,
    layer_versions,
    main,
    read_lock,
    read_requirements,
    unsatisfied,
)
from slipway_dev.template import load_template
from tests.support.paths import ROOT

pytestmark = pytest.mark.unit

LOCAL_LOCK = ROOT / "requirements" / "local.txt"
FIX = "run `make setup` to rebuild .venv from the locks (or `make lock` after changing a dependency)"


def test_the_tests_run_exactly_the_layers_pins() -> None:
    problems = drift(applicable(read_lock(RUNTIME_LOCK)), installed_versions(), exact=False)
    assert problems == [], f"{RUNTIME_LOCK.relative_to(ROOT)} drifted from this virtualenv: {problems}; {FIX}"


def test_the_dev_tools_are_the_dev_locks_pins() -> None:
    problems = drift(applicable(read_lock(DEV_LOCK)), installed_versions(), exact=False)
    assert problems == [], f"{DEV_LOCK.relative_to(ROOT)} drifted from this virtualenv: {problems}; {FIX}"


def test_every_lock_line_is_an_exact_pin_with_hashes() -> None:
    for lock in (
        RUNTIME_LOCK,
        DEV_LOCK,
        LOCAL_LOCK,
        ROOT / "requirements" / "sam.txt",
        ROOT / "requirements" / "checkov.txt",
    ):
        text = lock.read_text()
        pins = read_lock(lock)
        assert pins, f"no pins in {lock}"
        assert text.count("==") >= len(pins)
        assert text.count("--hash=sha256:") >= len(pins), f"{lock} has a pin without a hash: run `make lock`"
        requirement_lines = [line for line in text.splitlines() if line and not line[0].isspace() and line[0] != "#"]
        assert len(requirement_lines) == len(pins), f"{lock} has a requirement that is not an exact pin"


def test_the_locks_satisfy_the_lists_they_were_made_from() -> None:
    runtime = applicable(read_lock(RUNTIME_LOCK))
    assert unsatisfied(read_requirements(RUNTIME_IN), runtime) == []
    # The dev lock was resolved with the runtime lock as constraints: the same runtime versions, every one.
    dev = applicable(read_lock(DEV_LOCK))
    assert {name: dev.get(name) for name in runtime} == runtime
    # The demo's lock (`.[local]` only) was resolved with the dev lock as constraints: a subset of the same pins.
    local = applicable(read_lock(LOCAL_LOCK))
    assert {name: dev.get(name) for name in local} == local
    assert set(runtime) <= set(local)


def test_the_layer_is_built_from_the_runtime_lock_for_python313_arm64() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    layer = next(r for r in resources.values() if r["Type"] == "AWS::Serverless::LayerVersion")
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert (ROOT / layer["Properties"]["ContentUri"] / "requirements.txt").resolve() == RUNTIME_LOCK.resolve()


def test_an_edited_list_without_a_new_lock_is_named() -> None:
    pins = {"boto3": "1.40.1", "pydantic": "2.9.0"}
    problems = unsatisfied([Requirement("boto3>=1.41"), Requirement("pydantic>=2.10,<3"), Requirement("rich")], pins)
    assert problems == [
        "boto3>=1.41 is not satisfied by the locked boto3==1.40.1",
        "pydantic<3,>=2.10 is not satisfied by the locked pydantic==2.9.0",
        "rich is not in the lock",
    ]


def test_markers_select_the_pin_for_this_interpreter() -> None:
    pins = [
        Pin("networkx", "3.6.1", "python_full_version < '3.0'"),
        Pin("networkx", "3.7", "python_full_version >= '3.0'"),
        Pin("boto3", "1.44.8", None),
    ]
    assert applicable(pins) == {"networkx": "3.7", "boto3": "1.44.8"}


def test_drift_names_the_package_and_both_versions() -> None:
    assert drift({"boto3": "1.44.8"}, {"boto3": "1.43.108", "six": "1.17.0"}, exact=True) == [
        "boto3: locked 1.44.8, found 1.43.108",
        "six==1.17.0: not in the lock",
    ]


def _fake_dist(site: Path, name: str, version: str) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_the_built_layer_check_fails_on_a_different_version(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pins = applicable(read_lock(RUNTIME_LOCK))
    for name, version in pins.items():
        _fake_dist(tmp_path, name, "0.0.1" if name == "boto3" else version)
    assert layer_versions(tmp_path)["boto3"] == "0.0.1"
    assert main(["layer", str(tmp_path)]) == 1
    assert f"boto3: locked {pins['boto3']}, found 0.0.1" in capsys.readouterr().out


def test_the_built_layer_check_passes_on_the_locked_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, version in applicable(read_lock(RUNTIME_LOCK)).items():
        _fake_dist(tmp_path, name, version)
    assert main(["layer", str(tmp_path)]) == 0
    assert "layer matches" in capsys.readouterr().out
