"""Every example runs offline (on the mock provider) and prints something sensible."""

import os
import pathlib
import subprocess
import sys

import pytest

from llm_connector.presets import PRESETS

EXAMPLES = sorted(p for p in (pathlib.Path(__file__).parent.parent / "examples").glob("*.py"))
KEY_VARS = {v for p in PRESETS.values() for v in p.env} | {"OLLAMA_HOST"}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_offline(path):
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    env["OLLAMA_HOST"] = "http://127.0.0.1:9"  # nothing listens there: examples must fall back cleanly
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() or proc.stderr.strip()
    assert "Traceback" not in proc.stderr
