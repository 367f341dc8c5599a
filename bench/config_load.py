"""The `config_load_ms` figure of `make bench`: an organisation's config (500 pipelines x 3 environments) loaded and
validated in the intake function's process, cold and warm.

A fresh interpreter with Lambda's environment imports the ECR push handler (its cold start), then times
``wiring().config()`` and one look-up by repository (the first load: what a deployed stack reads, the compiled file
publish-config writes: read it, parse the JSON, index by repository, validate the looked-up pipeline), a reload as
the TTL makes a warm process do once a minute, and the per-invocation cost once warm (the cached config and one
repository look-up). The same three for the YAML files alone (``load_config``: list, read, parse and validate every
file), in other fresh processes: what a function pays when the compiled file is missing (informative). The config
is read from a local folder: the figure is slipway's own parsing and validation, not a network; what the same loads
cost in S3 requests is counted apart, against moto.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.generated import generate_config, pipeline_name
from slipway.models.compiled import COMPILED_FILE
from slipway_dev.compiled import compiled_config

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = 500
ENVIRONMENTS = 3
ROUNDS = 5
WARM_LOOKUPS = 10_000
BUCKET = "slipway-bench-config"

CHILD = """
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("app", {app!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from slipway.domain.config import {loader} as load
from slipway.wiring import wiring

started = time.perf_counter()
config = load(wiring().config_source)
assert config.for_repository({repository!r})  # the index by repository (and, compiled, the pipeline's validation)
cold = time.perf_counter() - started
assert len(config.pipelines) == {pipelines}, len(config.pipelines)
started = time.perf_counter()
load(wiring().config_source).for_repository({repository!r})
reload = time.perf_counter() - started
wiring()._config, wiring()._config_loaded_at = config, time.monotonic()  # what wiring().config() cached
started = time.perf_counter()
for _ in range({lookups}):
    assert wiring().config().for_repository({repository!r})
warm = (time.perf_counter() - started) / {lookups}
print(json.dumps({{"cold": cold, "reload": reload, "warm": warm}}))
"""


# what ``wiring().config()`` calls (the compiled file), and the YAML files alone
LOADERS = {"compiled": "load_published_config", "yaml": "load_config"}


def _child_run(env: dict[str, str], config: Path, loader: str) -> dict[str, float]:
    code = CHILD.format(
        loader=LOADERS[loader],
        app=str(ROOT / "functions" / "ecr_push" / "app.py"),
        pipelines=PIPELINES,
        lookups=WARM_LOOKUPS,
        repository=pipeline_name(PIPELINES // 2),
    )
    child_env = {**env, "SLIPWAY_CONFIG_LOCATION": str(config)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=child_env, cwd=config.parent, check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def s3_requests_per_load(config: Path, loader: str) -> dict[str, int]:
    """The S3 calls one load of the same config makes from an S3 prefix (the stack's ConfigLocation), on moto."""
    import boto3
    from moto import mock_aws

    from slipway.adapters.s3 import S3ConfigSource
    from slipway.domain import config as loaders

    calls: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        calls[operation] = calls.get(operation, 0) + 1

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        for path in sorted(config.rglob("*")):
            if path.is_file():
                s3.put_object(Bucket=BUCKET, Key=f"config/{path.relative_to(config)}", Body=path.read_bytes())
        s3.meta.events.register("before-call.s3", count)
        getattr(loaders, LOADERS[loader])(S3ConfigSource(s3, f"s3://{BUCKET}/config"))
    return dict(sorted(calls.items()))


def measure_config_load(env: dict[str, str]) -> dict[str, Any]:
    """``env``: Lambda's environment for a handler process (bench.run's)."""
    with tempfile.TemporaryDirectory() as folder:
        config = generate_config(Path(folder), PIPELINES, ENVIRONMENTS)
        compiled = config / COMPILED_FILE  # as publish-config writes it beside the files
        compiled.parent.mkdir()
        compiled.write_bytes(compiled_config(config))
        figures: dict[str, dict[str, float]] = {}
        for loader in LOADERS:
            _child_run(env, config, loader)  # warm-up: bytecode caches, as a built package has them
            runs = [_child_run(env, config, loader) for _ in range(ROUNDS)]
            figures[loader] = {
                "cold": round(statistics.median(r["cold"] for r in runs) * 1000, 1),
                "reload": round(statistics.median(r["reload"] for r in runs) * 1000, 1),
                "warm_per_invocation": round(statistics.median(r["warm"] for r in runs) * 1000, 4),
            }
        s3_calls = {loader: s3_requests_per_load(config, loader) for loader in LOADERS}
        compiled_bytes = compiled.stat().st_size
    return {
        "config_load_ms": figures["compiled"],
        "config_load_yaml_ms": figures["yaml"],
        "config_load_setup": {
            "pipelines": PIPELINES,
            "environments": ENVIRONMENTS,
            "compiled_file_bytes": compiled_bytes,
            "s3_calls_per_load": s3_calls["compiled"],
            "s3_calls_per_yaml_load": s3_calls["yaml"],
        },
    }


if __name__ == "__main__":
    from bench.run import _child_env

    print(json.dumps(measure_config_load(_child_env()), indent=2))
