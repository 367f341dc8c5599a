"""The layering, kept: the import graph of the ``slipway`` package (grimp reads every import
statement, those inside functions and under TYPE_CHECKING included)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "slipway" / "slipway"
MAX_MODULE_LINES = 500


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("slipway", exclude_type_checking_imports=False)


def test_layers_wiring_then_adapters_and_domain_apart_then_models() -> None:
    layers = [
        grimp.Layer("wiring"),
        grimp.Layer("adapters", "domain", independent=True),
        grimp.Layer("observability", "settings", independent=True),
        grimp.Layer("models"),
        grimp.Layer("errors"),
    ]
    illegal = graph().find_illegal_dependencies_for_layers(layers=layers, containers={"slipway"})
    described = sorted(f"{d.importer} -> {d.imported}: {[r.chain for r in d.routes]}" for d in illegal)
    assert described == []


def test_the_domain_never_imports_an_adapter_or_boto3() -> None:
    g = graph()
    domain = {m for m in g.modules if m.startswith("slipway.domain")}
    offenders = sorted(
        (m, imported)
        for m in domain
        for imported in g.find_modules_directly_imported_by(m)
        if imported.startswith(("slipway.adapters", "slipway.wiring", "boto3", "botocore.client", "mypy_boto3"))
    )
    assert offenders == []


def test_no_import_cycle_anywhere_in_the_package() -> None:
    g = graph()
    cycles = []
    for importer in sorted(m for m in g.modules if m.startswith("slipway")):
        for imported in g.find_modules_directly_imported_by(importer):
            if not imported.startswith("slipway"):
                continue
            back = g.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycles.append(" -> ".join((importer, *back)))
    assert cycles == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_500_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_MODULE_LINES


def test_every_storage_key_is_built_in_the_keys_module() -> None:
    """The storage layout lives in ``adapters/keys.py``: no other module spells a key prefix (``LOCK#``), and no
    other adapter a sort key."""
    prefix = re.compile(r"""["'][A-Z]+#""")
    sort_key = re.compile(r"""["'](?:LOCK|LATEST|TOKEN|APPROVAL|PUSHER|META|INFLIGHT)["']""")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "keys.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if prefix.search(line) or (path.parent.name == "adapters" and sort_key.search(line))
    ]
    assert offenders == []
