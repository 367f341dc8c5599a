"""`make bench`: the figures slipway promises, measured here. Method: bench/README.md.

Writes bench/out/results.json (git ignores bench/out/) and prints a table with each figure's goal and whether it is
met. One module per figure group: bench/releases.py (transitions, invocations, intake), bench/faults.py (fault
injection), bench/config_load.py (config_load_ms), bench/concurrency.py (concurrent_releases), bench/cost.py
(cost_per_release_usd), bench/ecs_native.py (the ECS-native blue/green release); the cold import ratios are
measured here.
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
RESULTS = ROOT / "bench" / "out" / "results.json"
ROUNDS = int(os.environ.get("SLIPWAY_BENCH_ROUNDS", "15"))
COLD_IMPORT_GOAL = 1.3  # x `import boto3`, every handler (the heaviest decides)

# What a handler module sees at cold start on Lambda: template.yaml's Globals (placeholders for what the stack
# names; nothing is called at import) and what Lambda itself sets. A unit test keeps it in step with the template.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_REGION": "eu-west-2",
    "AWS_DEFAULT_REGION": "eu-west-2",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "slipway",
    "POWERTOOLS_METRICS_NAMESPACE": "Slipway",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
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
    from bench.config_load import measure_config_load  # 500 pipelines x 3 environments; see bench/config_load.py

    results.update(measure_config_load(_child_env()))
    try:
        from bench.releases import measure_releases  # the local cloud part; see bench/releases.py
    except ImportError as exc:  # pragma: no cover - reported, not hidden
        print(f"release figures skipped: {exc}", file=sys.stderr)
    else:
        results.update(measure_releases())
        from bench.cost import measure_cost  # one release's quantities x a dated price table; see bench/cost.py

        results.update(measure_cost())
        from bench.concurrency import measure_concurrent_releases  # 50 pipelines at once; bench/concurrency.py

        results.update(measure_concurrent_releases())
        from bench.faults import measure_fault_injection  # releases under injected faults; see bench/faults.py

        results.update(measure_fault_injection())
        from bench.ecs_native import measure_ecs_native  # the ECS-native blue/green release; see bench/ecs_native.py

        results.update(measure_ecs_native())
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_table(results)
    return 0


def _row(name: str, value: Any, goal: str = "", met: bool | None = None) -> None:
    verdict = "" if met is None else ("met" if met else "NOT MET")
    shown = value if isinstance(value, str) else json.dumps(value)
    print(f"{name:44} {shown:>14}  {goal:18} {verdict}")


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'figure':44} {'value':>14}  {'goal':18} verdict")
    for name, ratio in sorted(results["cold_import_ratio"].items()):
        _row(f"cold import ratio: {name}", ratio, f"<= {COLD_IMPORT_GOAL}", ratio <= COLD_IMPORT_GOAL)
    load = results.get("config_load_ms")
    if load:
        setup = results["config_load_setup"]
        print(f"\nconfig load: {setup['pipelines']} pipelines x {setup['environments']} environments, ms")
        _row("  cold (first load in the intake's process)", load["cold"], "<= 200", load["cold"] <= 200)
        _row("  reload (once a minute, warm)", load["reload"])
        _row("  per invocation once warm", load["warm_per_invocation"])
        yaml_load = results.get("config_load_yaml_ms")
        if yaml_load:  # no compiled file (an older publish): every YAML file listed, read, parsed, validated
            _row("  YAML files alone: cold", yaml_load["cold"])
            _row("  YAML files alone: reload", yaml_load["reload"])
    goals = {
        "state_transitions_per_release": ("<= 10", lambda v: max(v.values()) <= 10),
        "lambda_invocations_per_release": ("<= 8", lambda v: max(v.values()) <= 8),
        "aws_calls_per_duplicate_event": ("1", lambda v: v == 1),
        "intake_events_per_second": ("", None),
        "local_release_seconds": ("<= 2", lambda v: v <= 2),
        "local_release_seconds_first": ("", None),
        "log_bytes_per_release": ("< 20480", lambda v: v < 20480),
    }
    print()
    for key, (goal, check) in goals.items():
        if key in results:
            _row(key, results[key], goal, check(results[key]) if check else None)
    _print_cost(results)
    _print_concurrency(results)
    _print_ecs_native(results)
    _print_faults(results)
    print(f"\nwritten: {RESULTS.relative_to(ROOT)}")


def _print_cost(results: dict[str, Any]) -> None:
    cost = results.get("cost_per_release_usd")
    if not cost:
        return
    prices = results["cost_per_release"]["prices"]
    print(f"\ncost of one release, USD ({prices['region']} prices of {prices['as_of']})")
    _row("  slipway", f"{cost['slipway']:.7f}", "<= 0.0003", cost["slipway"] <= 0.0003)
    _row("  seed: CodePipeline V2 + CodeBuild", f"{cost['seed_codepipeline_v2_codebuild']:.4f}")
    _row("  seed: its deploy actions alone", f"{cost['seed_deploy_orchestration_only']:.4f}")


def _print_concurrency(results: dict[str, Any]) -> None:
    figures = results.get("concurrent_releases")
    if not figures:
        return
    count = figures["pipelines"]
    print(f"\nconcurrent releases: {count} pipelines pushed at once, each approved")
    _row("  started", figures["started"], f"= {count}", figures["started"] == count)
    _row("  succeeded", figures["succeeded"], f"= {count}", figures["succeeded"] == count)
    _row("  p95_event_to_start_execution_ms", figures["p95_event_to_start_execution_ms"])
    _row("  wall_seconds", figures["wall_seconds"])
    _row("  locks_held_after", figures["locks_held_after"], "0", figures["locks_held_after"] == 0)
    _row("  lock_waits", figures["lock_waits"], "0", figures["lock_waits"] == 0)


def _print_ecs_native(results: dict[str, Any]) -> None:
    ecs = results.get("ecs_native_blue_green")
    if not ecs:
        return
    for label in ("short_bake", "long_bake"):
        for key, limit in (("state_transitions", 10), ("lambda_invocations", 8)):
            value = ecs[label][key]
            _row(f"ECS-native blue/green {key} ({label})", value, f"<= {limit}", value <= limit)


def _print_faults(results: dict[str, Any]) -> None:
    faults = results.get("fault_injection")
    if not faults:
        return
    releases = faults["releases"]
    fault_goals = {
        "faults_injected": ("", None),
        "ended_as_expected": (f"= {releases}", faults["ended_as_expected"] == releases),
        "duplicate_deployments": ("0", faults["duplicate_deployments"] == 0),
        "stuck_executions": ("0", faults["stuck_executions"] == 0),
        "lost_audit_rows": ("0", faults["lost_audit_rows"] == 0),
    }
    print(f"\nfault injection: {releases} releases, {results['fault_injection_setup']['rate']:.0%} faults")
    for key, (goal, met) in fault_goals.items():
        _row(f"  {key}", faults[key], goal, met)


if __name__ == "__main__":
    sys.exit(main())
