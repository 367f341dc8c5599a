"""The `slipway` command. Each subcommand lives in its own module with a ``register(subparsers)``; ``main`` runs
one and turns every failure into one line (``slipway_dev.cli.errors.explain``), never a traceback."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from slipway import __version__
from slipway_dev.cli.errors import explain

# Modules that add subcommands; each has register(subparsers) -> None.
COMMAND_MODULES = [
    "slipway_dev.cli.validate",
    "slipway_dev.cli.preflight",
    "slipway_dev.cli.render",
    "slipway_dev.cli.history",
    "slipway_dev.cli.status",
    "slipway_dev.cli.dora",
    "slipway_dev.cli.rollback",
    "slipway_dev.cli.stack_parameters",
    "slipway_dev.cli.retry",
    "slipway_dev.cli.local",
]


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, unless its help already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Subparsers:
    """``add_subparsers()``'s action, giving every subcommand parser the same help formatter."""

    def __init__(self, action: Any) -> None:
        self._action = action

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("description", kwargs.get("help"))
        parser: argparse.ArgumentParser = self._action.add_parser(name, **kwargs)
        return parser


def subcommands(parser: argparse.ArgumentParser, **kwargs: Any) -> _Subparsers:
    """``parser.add_subparsers(**kwargs)`` whose parsers show defaults (``slipway local`` uses it too)."""
    return _Subparsers(parser.add_subparsers(**kwargs))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slipway",
        description="Ship container images to Amazon ECS: validate, check the account, render, run locally.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"slipway {__version__}", help="print the version")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected failure")
    commands = subcommands(parser, dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"slipway {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        message, code = explain(exc)
        print(f"slipway {args.command}: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
