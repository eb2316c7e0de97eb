"""The documentation cannot rot: every ```python block in README.md and docs/ runs here, offline.

Each block runs as it is written, in a fresh interpreter (its own namespace, a time limit, no provider keys in
the environment and no Ollama to reach), so a block must be self-contained: it uses ``LlmClient.mock(...)`` or
a ``LocalServer`` it starts itself. Blocks that must not run are fenced as ``bash`` or ``text``; any other
language, and fences indented out of sight, fail the checks below. The ids name the page and the block's
number on it (``docs/streaming.md#3``); a failure shows the block's first line number and its error.
"""

import os
import pathlib
import re
import subprocess
import sys
from typing import Dict, List, NamedTuple

import pytest

from llm_connector import LlmClient
from llm_connector.presets import PRESETS

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README] + sorted(DOCS.rglob("*.md"))

#: The README's first lines: the title, then the clone line and the two commands a newcomer pastes on a fresh
#: machine with no virtual environment active (install + run, run the tests).
CLONE = "git clone https://github.com/llm-connector/llm-connector-python && cd llm-connector-python"
MAIN_COMMAND = ('python3 -m venv .venv && .venv/bin/pip install -e . && '
                '.venv/bin/python -m llm_connector "Tell me a story"')
TEST_COMMAND = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'

RUN = "python"
NOT_RUN = {"bash", "text"}
BLOCK_TIMEOUT = 60
#: Variables that would point a block at a real service.
KEY_VARS = {v for p in PRESETS.values() for v in p.env} | {p.base_url_env for p in PRESETS.values() if p.base_url_env}


class Block(NamedTuple):
    page: pathlib.Path
    number: int  # 1-based among the page's python blocks
    line: int  # 1-based line of the opening fence
    language: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}#{self.number}"


def fenced_blocks(page: pathlib.Path) -> List[Block]:
    """Every fenced block of a page (fences start in column 0), python ones numbered."""
    blocks: List[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i, number = 0, 0
    while i < len(lines):
        if lines[i].startswith("```"):
            language = lines[i][3:].strip()
            end = i + 1
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            assert end < len(lines), f"{page.name}:{i + 1}: a code fence is never closed"
            if language == RUN:
                number += 1
            blocks.append(Block(page, number if language == RUN else 0, i + 1, language,
                                "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


ALL_BLOCKS = [b for page in PAGES for b in fenced_blocks(page)]
PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.language == RUN]


def offline_env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS and not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OLLAMA_HOST"] = "http://127.0.0.1:9"  # nothing listens there
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


def numbered(code: str) -> str:
    """The block with the line numbers a traceback of ``python -c`` gives."""
    return "\n".join(f"{n:4} | {text}" for n, text in enumerate(code.splitlines(), start=1))


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_python_block_runs_offline(block: Block, tmp_path: pathlib.Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", block.code], capture_output=True, text=True, cwd=tmp_path,
        env=offline_env(), timeout=BLOCK_TIMEOUT, encoding="utf-8",
    )
    where = f"{block.id} (fence on line {block.line}) failed:\n{numbered(block.code)}\n--- stderr ---\n"
    assert proc.returncode == 0, where + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, where + proc.stderr[-3000:]
    assert "ResourceWarning" not in proc.stderr, where + proc.stderr[-3000:]


def test_the_readme_opens_with_the_clone_install_and_test_commands() -> None:
    head = README.read_text(encoding="utf-8").splitlines()[:6]
    assert head[:4] == ["# llm_connector", "", "```bash", CLONE]
    assert head[4].startswith(MAIN_COMMAND + "   # ")
    assert head[5].startswith(TEST_COMMAND + " ") and re.search(r"about (a|\d+) (minute|minutes|seconds)", head[5])


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -q -e ".[test]"' in ci  # the README's install of the test extra...
    assert "python -m pytest)" in ci  # ... and its test command, in the same venv


def test_the_readme_main_command_answers_offline_on_the_mock_provider(tmp_path: pathlib.Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "llm_connector", "Tell me a story"], capture_output=True,
                          text=True, cwd=tmp_path, env=offline_env(), timeout=BLOCK_TIMEOUT, encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    assert "Tell me a story" in proc.stdout
    assert "mock" in proc.stderr


def test_every_fence_is_python_bash_or_text() -> None:
    odd = [f"{b.page.name}:{b.line} ```{b.language}" for b in ALL_BLOCKS if b.language not in NOT_RUN | {RUN}]
    assert not odd, "blocks that would escape the doc tests: " + ", ".join(odd)


def test_no_fence_is_indented_out_of_the_tests_sight() -> None:
    indented = [f"{page.name}:{n}" for page in PAGES
                for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
                if line != line.lstrip() and line.lstrip().startswith("```")]
    assert not indented


def test_every_page_has_python_blocks_to_run() -> None:
    pages_with_code = {b.page for b in PYTHON_BLOCKS}
    assert pages_with_code == set(PAGES)


def test_relative_links_point_to_files_that_exist() -> None:
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            if not (page.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken


def test_every_provider_has_a_row_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [name for name in LlmClient.supported_providers() if f"| `{name}(" not in text]
    assert not missing


def test_every_provider_is_described_on_a_provider_page() -> None:
    pages = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "providers").glob("*.md"))
    missing = [name for name in LlmClient.supported_providers() if f"`{name}" not in pages and f".{name}(" not in pages]
    assert not missing


def test_the_architecture_page_names_every_module() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    package = ROOT / "llm_connector"
    modules = sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py"))
    assert [m for m in modules if m not in text] == []


@pytest.mark.parametrize("needle", [
    "client.chat_stream(", "get_content()", "reasoning_content", "chunk.model", "chunk.id", "chunk.choices",
    "finish_reason", "break", "chat_stream_ollama(", "chunk.done", "to_json()", "to_sse()", "to_ndjson()",
    "## Provider-specific notes",
])
def test_the_streaming_guide_shows_each_capability_of_the_spec(needle: str) -> None:
    code = "\n".join(b.code for b in PYTHON_BLOCKS if b.page == DOCS / "streaming.md")
    text = (DOCS / "streaming.md").read_text(encoding="utf-8")
    assert needle in (text if needle.startswith("#") else code)
