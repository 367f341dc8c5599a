"""The IAM check in the test run: recording starts when pytest starts; when it ends, every call a function made
(in the embedded local cloud, or in a test acting for a function) is judged against that function's role in the
SAM-translated template. A denied call fails the run, naming function, action and resource. With
``--iam-unused`` (``make test`` passes it: the whole suite ran), a grant no call used fails the run too, unless
``tests/iam/justified-grants.yaml`` says why it stays. The full report goes to ``.slipway/iam-report.json``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from slipway_dev.iam.check import JUSTIFIED, judge, justifications, stale, unjustified
from slipway_dev.iam.recorder import RECORDER, Stack
from slipway_dev.stack import stack_resolver
from slipway_dev.template import functions, load_template
from tests.support.paths import ROOT

REPORT = ROOT / ".slipway" / "iam-report.json"


@cache
def logical_id_of(function_dir: str) -> str:
    """``functions/<dir>`` -> the template's logical id of that function."""
    for logical_id, props in functions(load_template()).items():
        if Path(str(props["CodeUri"])).name == function_dir:
            return logical_id
    raise KeyError(f"no function of template.yaml has CodeUri functions/{function_dir}/")


def register_world(key: str, *, parameters: dict[str, Any], names: dict[str, str], state_machine: str) -> None:
    """A test world's names: its calls are judged with the roles resolved for these."""
    resolver = stack_resolver(
        load_template(),
        region="eu-west-2",
        account="123456789012",
        prefix="slipway-test",
        parameters=parameters,
        names=names,
    )
    RECORDER.use_stack(Stack(key, resolver, state_machine))


def addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--iam-unused",
        action="store_true",
        help="fail when a role grants what no recorded call used and tests/iam/justified-grants.yaml does not "
        "justify it (only meaningful when the whole suite runs: make test)",
    )


def configure(config: pytest.Config) -> None:
    RECORDER.install()


def sessionfinish(session: pytest.Session) -> None:
    if not RECORDER.calls:
        return
    verdict = judge(list(RECORDER.calls), dict(RECORDER.stacks))
    allowed_unused = justifications()
    unexplained = unjustified(verdict.unused, allowed_unused)
    outdated = stale(verdict.unused, allowed_unused)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "calls": verdict.calls,
                "functions": sorted(verdict.functions),
                "denied": [str(d) for d in verdict.denials],
                "unused_grants": [str(g) for g in verdict.unused],
                "unused_and_unjustified": [str(g) for g in unexplained],
                "stale_justifications": [f"{j.function}: {j.action}" for j in outdated],
            },
            indent=2,
        )
    )
    lines = [f"IAM check: {verdict.calls} AWS calls of {len(verdict.functions)} functions judged (report: {REPORT})"]
    failed = bool(verdict.denials)
    lines += [f"  DENIED {d}" for d in verdict.denials]
    if session.config.getoption("--iam-unused"):
        lines += [f"  UNUSED {g}: remove it, or justify it in {JUSTIFIED.relative_to(ROOT)}" for g in unexplained]
        lines += [f"  STALE justification {j.function}: {j.action}: the grant is used or gone" for j in outdated]
        failed = failed or bool(unexplained) or bool(outdated)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=failed and line.startswith("  "))
    if failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
