"""The command line: help, clear errors for user mistakes, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_pqa(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pqa.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_every_command():
    result = run_pqa("--help")

    assert result.returncode == 0
    for command in (
        "simulate",
        "ingest",
        "features",
        "label",
        "train",
        "promote",
        "compare",
        "backtest",
        "ui",
        "score",
        "serve",
        "demo",
    ):
        assert command in result.stdout


def test_bad_config_key_exits_2_without_traceback(tmp_path):
    config = tmp_path / "pqa.yaml"
    config.write_text("events:\n  valeu: [x]\n")

    result = run_pqa("ingest", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(config))

    assert result.returncode == 2
    assert "unknown key 'events.valeu'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--log-level", "LOUD", "features", "--list"), "--log-level"),
        (("features", "x", "--as-of", "2025-13-01", "--out", "f.csv"), "YYYY-MM-DD"),
        (("score", "x", "--as-of", "2025-06-01", "--out", "scores.txt"), "--out"),
        (("train", "x", "--target", "revenue"), "--target"),
    ],
    ids=["log-level", "as-of-date", "output-file-type", "target"],
)
def test_bad_option_is_named(args, message, tmp_path):
    result = run_pqa(*args, cwd=tmp_path)

    assert result.returncode == 2
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_feature_list_does_not_import_heavy_libraries():
    code = (
        "import sys; from typer.testing import CliRunner; from pqa.cli import app; "
        "r = CliRunner().invoke(app, ['features', '--list']); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('mlflow', 'bentoml', 'lightgbm') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
