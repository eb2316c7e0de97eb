"""How the package is installed: its own distribution name, the console script, and types that mypy finds after
``pip install -e .`` (checked from a folder outside the checkout, as a user's project would be)."""

import configparser
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def test_the_distribution_has_a_name_of_its_own_not_the_unrelated_llm_connector():
    # PyPI's `llm-connector` is another project with the same import name.
    assert setup_cfg()["metadata"]["name"] == "llm-connector-sync"


def test_the_console_script_is_still_llm_connector():
    lines = setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines()
    scripts = dict((part.strip() for part in line.split("=")) for line in lines)
    assert scripts["llm-connector"] == "llm_connector.__main__:main"


def test_every_pip_install_line_in_the_docs_installs_this_project():
    pages = [ROOT / "README.md", ROOT / "tests" / "benchmarks" / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    lines = [line for page in pages for line in page.read_text(encoding="utf-8").splitlines() if "pip install" in line]
    assert lines
    for line in lines:
        command = line.split("#")[0]
        assert "pip install llm-connector " not in command + " ", line
        assert re.search(r'pip install -e (\.|"\.\[[a-z,]+\]")( |$)', command), line


def _installed_as_this_distribution() -> bool:
    from importlib import metadata  # Python 3.8+

    try:
        metadata.distribution("llm-connector-sync")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed_as_this_distribution(),
                    reason="llm_connector is not installed as llm-connector-sync here (run pip install -e . again)")
def test_mypy_finds_the_package_types_after_an_editable_install(tmp_path):
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[lint]')")
    (tmp_path / "user_code.py").write_text(
        "import llm_connector\n"
        "client: int = llm_connector.LlmClient.mock()\n",  # a deliberate type error mypy can only see with our types
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "user_code.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert "import-not-found" not in out and "missing library stubs or py.typed" not in out, out
    assert 'expression has type "LlmClient", variable has type "int"' in out, out
