"""The README documents every feature, every command and the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from features.catalog import FEATURES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_demo_and_test_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]

    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_feature_is_documented(name):
    row = re.search(rf"^\| `{name}` \|.*\|$", README, re.M)

    assert row is not None, f"README has no table row for feature {name}"
    assert FEATURES[name].description in row.group(0)
