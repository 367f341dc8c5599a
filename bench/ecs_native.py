"""The ECS-native figures of `make bench`: state transitions and Lambda invocations of one release of the example
config's `api` pipeline (rolling staging, approval, ECS blue/green production), with a short and a long bake of
the simulated service deployments. The wait is a task token completed by ECS's event, so the figures must not
change with the bake (goals: <= 10 transitions, <= 8 invocations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slipway_dev.local.cloud import LocalCloud
from slipway_dev.local.demo import Demo, DemoOptions
from slipway_dev.local.handle import CloudHandle

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "api"
BAKES = {"short_bake": 0.0, "long_bake": 5.0}
INTAKE_FUNCTION = "EcrPushFunction"


def measure_ecs_native() -> dict[str, Any]:
    figures: dict[str, Any] = {"bake_seconds": BAKES}
    for label, bake in BAKES.items():
        with LocalCloud(codedeploy_delay=bake, time_scale=0.0, log_level="ERROR") as cloud:
            options = DemoOptions(
                config_dir=ROOT / "config", state_dir=ROOT / ".slipway" / "bench", timeout=120, pipeline=PIPELINE
            )
            summary = Demo(CloudHandle(cloud.state()), options, say=lambda _line: None).run()
        if summary["status"] != "SUCCEEDED":
            raise RuntimeError(f"ECS-native bench release did not succeed: {summary}")
        by_function: dict[str, int] = summary["lambda_invocations_by_function"]
        figures[label] = {
            "state_transitions": summary["state_transitions"],
            "lambda_invocations": sum(n for name, n in by_function.items() if name != INTAKE_FUNCTION),
        }
    return {"ecs_native_blue_green": figures}
