"""The Lambda layer (template.yaml: ContentUri layers/slipway/) holds only what Lambda runs.

Nothing under layers/slipway/slipway imports the dev tooling (slipway_dev) or what only the tooling installs (moto,
rich, flask, werkzeug), not even inside a function; and layers/slipway/ holds the runtime package and its
requirements.txt, nothing else (the CLI, the local cloud and the template reader live in tools/slipway_dev).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from slipway_dev.template import load_template
from tests.support.paths import ROOT

LAYER = ROOT / "layers" / "slipway"
PACKAGE = LAYER / "slipway"
FORBIDDEN = {"moto", "rich", "slipway_dev", "flask", "werkzeug"}


def imported_modules(source: str, filename: str) -> set[str]:
    """Every module an ``import`` or ``from ... import`` names, wherever it stands (module, function, branch)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def forbidden_imports(package: Path) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        for module in sorted(imported_modules(path.read_text(encoding="utf-8"), str(path))):
            if module.split(".")[0] in FORBIDDEN:
                problems.append(f"{path.relative_to(package.parent)} imports {module}")
    return problems


def test_the_runtime_package_imports_no_dev_tooling() -> None:
    assert list(PACKAGE.rglob("*.py")), f"no runtime package at {PACKAGE}"
    assert forbidden_imports(PACKAGE) == []


def test_the_layer_holds_the_runtime_package_and_its_requirements_only() -> None:
    assert sorted(path.name for path in LAYER.iterdir()) == ["requirements.txt", "slipway"]
    assert not (PACKAGE / "local").exists()
    assert not (PACKAGE / "cli").exists()
    assert not (PACKAGE / "template.py").exists()


def test_the_template_ships_that_folder_as_the_layer() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    layers = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Serverless::LayerVersion"]
    assert [layer["ContentUri"].rstrip("/") for layer in layers] == ["layers/slipway"]


@pytest.mark.parametrize(
    "source",
    [
        "import moto",
        "from moto.core import config",
        "import rich.console as console",
        "def f():\n    from slipway_dev.local import cloud\n",
        "try:\n    import flask\nexcept ImportError:\n    pass\n",
        "if TYPE_CHECKING:\n    from werkzeug import Request\n",
    ],
)
def test_the_check_finds_a_forbidden_import_wherever_it_stands(tmp_path: Path, source: str) -> None:
    package = tmp_path / "slipway"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "module.py").write_text("import json\nfrom slipway.errors import SlipwayError\n" + source)
    assert len(forbidden_imports(package)) == 1
    assert forbidden_imports(package)[0].startswith("slipway/module.py imports ")


def test_every_module_of_the_layer_is_imported_by_a_function() -> None:
    """What no handler reaches (imports inside functions included) belongs in tools/slipway_dev, not in the layer."""
    import grimp

    graph = grimp.build_graph("slipway", exclude_type_checking_imports=True)
    roots = {
        node.module
        for app in sorted((ROOT / "functions").glob("*/app.py"))
        for node in ast.walk(ast.parse(app.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("slipway")
    }
    reached = roots | {m for root in roots for m in graph.find_upstream_modules(root)}
    packages = {m for m in graph.modules if (PACKAGE / m.removeprefix("slipway.").replace(".", "/")).is_dir()}
    assert sorted(graph.modules - reached - packages - {"slipway"}) == []
