"""The `slipway` command. Each subcommand lives in its own module with a ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands; each has register(subparsers) -> None.
COMMAND_MODULES = [
    "slipway_dev.cli.validate",
    "slipway_dev.cli.render",
    "slipway_dev.cli.history",
    "slipway_dev.cli.status",
    "slipway_dev.cli.dora",
    "slipway_dev.cli.rollback",
    "slipway_dev.cli.retry",
    "slipway_dev.cli.local",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slipway", description="Ship container images to Amazon ECS: validate, render, run locally."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
