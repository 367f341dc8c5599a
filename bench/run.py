"""`make bench`: the figures slipway promises, measured here. Method: bench/README.md.

Writes bench/results.json (keys: cold_import_ratio, state_transitions_per_release, lambda_invocations_per_release,
aws_calls_per_duplicate_event, intake_events_per_second, local_release_seconds, fault_injection,
ecs_native_blue_green) and prints a table.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/run.py` from make: let `bench.releases` import
FUNCTIONS = ROOT / "functions"
RESULTS = ROOT / "bench" / "results.json"
ROUNDS = int(os.environ.get("SLIPWAY_BENCH_ROUNDS", "15"))

# What a handler module sees at cold start on Lambda (values are placeholders; nothing is called at import).
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_REGION": "eu-west-2",
    "AWS_DEFAULT_REGION": "eu-west-2",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "slipway",
    "POWERTOOLS_METRICS_NAMESPACE": "Slipway",
    "SLIPWAY_ENVIRONMENT": "bench",
    "SLIPWAY_STATE_TABLE": "state",
    "SLIPWAY_AUDIT_TABLE": "audit",
    "SLIPWAY_CONFIG_LOCATION": "s3://bench-config/config",
    "SLIPWAY_SLACK_SECRET_ARN": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:slack",
    "SLIPWAY_STATE_MACHINE_ARN": "arn:aws:states:eu-west-2:123456789012:stateMachine:bench",
}


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLIPWAY_", "POWERTOOLS_"))}
    env.update(LAMBDA_ENV)
    # Lambda's runtime ships compiled bytecode for the stdlib and boto3; this machine exports
    # PYTHONDONTWRITEBYTECODE=1, so without this every child would recompile and time the compiler.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time_process(code: str, env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def _handler_import_code(function_dir: Path) -> str:
    return (
        "import importlib.util, sys;"
        f"spec = importlib.util.spec_from_file_location('app', {str(function_dir / 'app.py')!r});"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module);"
        "assert callable(module.lambda_handler)"
    )


def cold_import_ratios() -> dict[str, Any]:
    """Whole-process wall time of importing each handler module, less an empty interpreter, over boto3's."""
    env = _child_env()
    functions = sorted(p for p in FUNCTIONS.iterdir() if (p / "app.py").is_file())
    programs = {"(empty)": "pass", "(import boto3)": "import boto3"}
    programs.update({f.name: _handler_import_code(f) for f in functions})
    with tempfile.TemporaryDirectory() as cwd:
        for code in programs.values():  # warm-up: writes the bytecode caches, as a built package would have
            _time_process(code, env, Path(cwd))
        samples: dict[str, list[float]] = {name: [] for name in programs}
        for _ in range(ROUNDS):  # interleaved, so drift on a busy machine hits every program alike
            for name, code in programs.items():
                samples[name].append(_time_process(code, env, Path(cwd)))
    median = {name: statistics.median(values) for name, values in samples.items()}
    empty = median.pop("(empty)")
    boto3_seconds = median.pop("(import boto3)") - empty
    return {
        "boto3_import_seconds": round(boto3_seconds, 4),
        "ratios": {name: round((seconds - empty) / boto3_seconds, 2) for name, seconds in median.items()},
    }


def main() -> int:
    results: dict[str, Any] = {}
    started = time.perf_counter()
    cold = cold_import_ratios()
    results["cold_import_ratio"] = cold["ratios"]
    results["boto3_import_seconds"] = cold["boto3_import_seconds"]
    try:
        from bench.releases import measure_releases  # the local cloud part; see bench/releases.py
    except ImportError as exc:  # pragma: no cover - reported, not hidden
        print(f"release figures skipped: {exc}", file=sys.stderr)
    else:
        results.update(measure_releases())
        from bench.faults import measure_fault_injection  # releases under injected faults; see bench/faults.py

        results.update(measure_fault_injection())
        from bench.ecs_native import measure_ecs_native  # the ECS-native blue/green release; see bench/ecs_native.py

        results.update(measure_ecs_native())
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_table(results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'figure':44} {'value':>12}  goal")
    for name, ratio in sorted(results["cold_import_ratio"].items()):
        goal = "<= 1.3" if name == "slack_interactions" else "<= 1.5"
        print(f"{'cold import ratio: ' + name:44} {ratio:>12}  {goal}")
    goals = {
        "state_transitions_per_release": "<= 10",
        "lambda_invocations_per_release": "<= 8",
        "aws_calls_per_duplicate_event": "1",
        "intake_events_per_second": "",
        "local_release_seconds": "<= 2",
        "local_release_seconds_first": "",
    }
    for key, goal in goals.items():
        if key in results:
            print(f"{key:44} {json.dumps(results[key]):>12}  {goal}")
    ecs = results.get("ecs_native_blue_green")
    if ecs:
        for label in ("short_bake", "long_bake"):
            for key, goal in (("state_transitions", "<= 10"), ("lambda_invocations", "<= 8")):
                print(f"{'ECS-native blue/green ' + key + ' (' + label + ')':44} {ecs[label][key]:>12}  {goal}")
    faults = results.get("fault_injection")
    if faults:
        releases = faults["releases"]
        fault_goals = {
            "faults_injected": ("", True),
            "ended_as_expected": (f"= {releases}", faults["ended_as_expected"] == releases),
            "duplicate_deployments": ("0", faults["duplicate_deployments"] == 0),
            "stuck_executions": ("0", faults["stuck_executions"] == 0),
            "lost_audit_rows": ("0", faults["lost_audit_rows"] == 0),
        }
        print(f"\nfault injection: {releases} releases, {results['fault_injection_setup']['rate']:.0%} faults")
        for key, (goal, met) in fault_goals.items():
            verdict = "" if not goal else ("met" if met else "NOT MET")
            print(f"{'  ' + key:44} {faults[key]:>12}  {goal} {verdict}")
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
