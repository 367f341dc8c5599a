"""The lock files (`make lock`) against what is installed: the tests' virtualenv and the built layer.

``python -m slipway_dev.locks layer .aws-sam/build/SlipwayLayer/python`` checks a `sam build` output (run by
`make build`); tests/unit/test_locks.py checks the running interpreter's packages.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
RUNTIME_IN = REPO / "requirements" / "runtime.in"
RUNTIME_LOCK = REPO / "layers" / "slipway" / "requirements.txt"
DEV_LOCK = REPO / "requirements" / "dev.txt"

_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?")


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    version: str
    marker: str | None

    def applies(self) -> bool:
        """True when this pin is for the running interpreter (a universal lock may pin per Python version)."""
        return self.marker is None or Marker(self.marker).evaluate()


def read_lock(path: Path) -> list[Pin]:
    """The ``name==version ; marker`` lines of a uv/pip-tools lock (hash and comment lines skipped)."""
    pins = []
    for line in path.read_text().splitlines():
        match = _PIN.match(line)
        if match:
            marker = (match["marker"] or "").strip() or None
            pins.append(Pin(canonicalize_name(match["name"]), match["version"], marker))
    return pins


def applicable(pins: Iterable[Pin]) -> dict[str, str]:
    return {pin.name: pin.version for pin in pins if pin.applies()}


def read_requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def unsatisfied(requirements: Iterable[Requirement], pins: Mapping[str, str]) -> list[str]:
    """Requirements a lock does not satisfy: a list was edited and `make lock` not run."""
    problems = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        pinned = pins.get(name)
        if pinned is None:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(Version(pinned), prereleases=True):
            problems.append(f"{requirement} is not satisfied by the locked {name}=={pinned}")
    return problems


def installed_versions() -> dict[str, str]:
    """The running interpreter's installed distributions."""
    return {canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}


def layer_versions(site: Path) -> dict[str, str]:
    """The distributions `sam build` put in a layer's ``python/`` folder (their dist-info metadata)."""
    return {canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions(path=[str(site)])}


def drift(pins: Mapping[str, str], found: Mapping[str, str], *, exact: bool) -> list[str]:
    """Each pin missing from or different in ``found``; with ``exact``, also what ``found`` has beyond the pins."""
    problems = [
        f"{name}: locked {version}, found {found.get(name, 'nothing')}"
        for name, version in sorted(pins.items())
        if found.get(name) != version
    ]
    if exact:
        problems += [f"{name}=={found[name]}: not in the lock" for name in sorted(set(found) - set(pins))]
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "layer":
        print("usage: python -m slipway_dev.locks layer <built layer's python/ folder>", file=sys.stderr)
        return 2
    site = Path(args[1])
    if not site.is_dir():
        print(f"{site} is not a folder: run `make build` first", file=sys.stderr)
        return 2
    problems = drift(applicable(read_lock(RUNTIME_LOCK)), layer_versions(site), exact=True)
    if problems:
        print(f"the layer in {site} differs from {RUNTIME_LOCK.relative_to(REPO)}: " + "; ".join(problems))
        return 1
    print(f"layer matches {RUNTIME_LOCK.relative_to(REPO)} ({len(layer_versions(site))} distributions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
