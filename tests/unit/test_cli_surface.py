"""The `slipway` command's surface: --version, help on every argument with its default, and every `slipway <verb>`
that the docs, the README and the code's messages name is a real command."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway import __version__
from slipway_dev.cli import build_parser, main
from tests.support.paths import ROOT

# `slipway verb` (with `local`, also its subcommand) in backticks, or at the start of a command line in a code block.
INLINE = re.compile(r"`(?:\.venv/bin/)?slipway ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?")
COMMAND_LINE = re.compile(r"^\s*(?:\$ )?(?:\.venv/bin/)?slipway ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?", re.M)
CODE_BLOCK = re.compile(r"```[a-z]*\n(.*?)```", re.S)


def parsers(parser: argparse.ArgumentParser, path: str = "slipway") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def commands() -> dict[str, set[str]]:
    """verb -> its subcommands (empty for a verb without)."""
    found: dict[str, set[str]] = {}
    for path, _ in parsers(build_parser()):
        words = path.split()[1:]
        if words:
            found.setdefault(words[0], set()).update(words[1:2])
    return found


def references() -> Iterator[tuple[str, str, str | None]]:
    """(file, verb, subcommand or None) for each `slipway ...` a person is told to run."""
    markdown = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    code = [p for folder in ("layers", "tools", "functions") for p in sorted((ROOT / folder).rglob("*.py"))]
    for path in [*markdown, *code, ROOT / "Makefile", ROOT / "slack" / "manifest.yaml"]:
        text = path.read_text(encoding="utf-8")
        blocks = "\n".join(CODE_BLOCK.findall(text)) if path.suffix == ".md" else ""
        for match in [*INLINE.finditer(text), *COMMAND_LINE.finditer(blocks)]:
            yield str(path.relative_to(ROOT)), match.group(1), match.group(2)


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"slipway {__version__}"


def test_every_argument_has_help_and_shows_its_default() -> None:
    missing, no_default = [], []
    for path, parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            name = "/".join(action.option_strings) or action.dest
            if not action.help:
                missing.append(f"{path} {name}")
            shown = parser.formatter_class(prog=path)._get_help_string(action) or ""  # type: ignore[attr-defined]
            has_default = action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
            if has_default and "default" not in shown:
                no_default.append(f"{path} {name}")
    assert missing == []
    assert no_default == []


def test_help_shows_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["preflight", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: slipway-dev)" in out
    assert "(default: config)" in out


def test_every_slipway_command_the_project_names_exists() -> None:
    known = commands()
    found = list(references())
    assert len(found) > 20  # the scan really reads the docs
    wrong = sorted(
        f"{where}: slipway {verb}{' ' + sub if sub else ''}"
        for where, verb, sub in found
        if verb not in known or (known[verb] and sub is not None and sub not in known[verb])
    )
    assert wrong == []


def test_no_reference_to_an_issue_number_or_a_file_outside_the_repository() -> None:
    texts = {
        p: p.read_text(encoding="utf-8")
        for folder in ("docs", "layers", "tools", "functions", "tests", "bench", "config")
        for p in (ROOT / folder).rglob("*")
        if p.is_file() and p.suffix in (".md", ".py", ".yaml", ".json") and p.name != Path(__file__).name
    }
    texts[ROOT / "README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    offenders = sorted(
        str(path.relative_to(ROOT))
        for path, text in texts.items()
        if re.search(r"\bissue \d+|\(issue|/work/shared|\.\./shared/", text)
    )
    assert offenders == []


def test_every_relative_link_in_the_docs_exists() -> None:
    broken = []
    for path in [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert broken == []
