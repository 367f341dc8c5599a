"""``python -m slipway_dev.iam translate [OUT]``: the template as CloudFormation receives it (SAM-translated), as
JSON, for checkov (``make checkov``) and for reading what IAM really gets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from slipway_dev.iam.roles import translated_template


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "translate" or len(argv) > 2:
        print("usage: python -m slipway_dev.iam translate [OUT.json]", file=sys.stderr)
        return 2
    text = json.dumps(translated_template(), indent=2, sort_keys=True)
    if len(argv) == 2:
        Path(argv[1]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[1]).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
