"""The house's own rules (docs/architecture.md), read from the source with ast: only transport.py imports
requests; imports never run in a circle (client.py and ollama.py above all); eventstream.py names no service."""

import ast
import re
from pathlib import Path
from typing import Dict, Iterator, List, Set

import llm_connector
from llm_connector.presets import PRESETS

PACKAGE = Path(llm_connector.__file__).parent


def modules() -> Dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except what sits under ``if TYPE_CHECKING:`` (imports for annotations only)."""
    stack: List[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imported(name: str, path: Path) -> Set[str]:
    """The absolute names a module imports at run time, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: Set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)  # "from . import ollama"
    return out


def graph() -> Dict[str, Set[str]]:
    names = modules()
    return {name: {m for m in imported(name, path) if m in names and m != name} for name, path in names.items()}


def test_only_transport_imports_requests() -> None:
    importers = sorted(name for name, path in modules().items()
                       if any(m == "requests" or m.startswith("requests.") for m in imported(name, path)))
    assert importers == ["llm_connector.transport"]


def test_client_never_imports_ollama() -> None:
    edges = graph()
    assert "llm_connector.client" in edges["llm_connector.ollama"]  # OllamaClient builds on LlmClient
    assert "llm_connector.ollama" not in edges["llm_connector.client"]


#: The rooms above the client (they import it; the client loads them by name on first use), left out of the
#: circle check below: their own order is their owners' to keep.
ABOVE_THE_CLIENT = ("llm_connector.batch", "llm_connector.batch_cli", "llm_connector.gateway",
                    "llm_connector.__main__", "llm_connector.display")


def test_imports_never_run_in_a_circle() -> None:
    edges = {name: {t for t in targets if t not in ABOVE_THE_CLIENT}
             for name, targets in graph().items() if name not in ABOVE_THE_CLIENT}
    done: Set[str] = set()

    def visit(name: str, path: List[str]) -> None:
        if name in path:
            cycle = path[path.index(name):] + [name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(edges[name]):
            visit(target, path + [name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])


def test_the_rule_checker_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    source = tmp_path / "client.py"
    source.write_text("import os\nif TYPE_CHECKING:\n    from .typed import T\n"
                      "def f():\n    from .ollama import OllamaClient\n    import requests\n")
    assert imported("llm_connector.client", source) == {
        "os", "llm_connector.ollama", "llm_connector.ollama.OllamaClient", "requests"}


def test_eventstream_names_no_service() -> None:
    text = (PACKAGE / "eventstream.py").read_text(encoding="utf-8").lower()
    protocols = {p.stem for p in (PACKAGE / "protocols").glob("*.py") if not p.stem.startswith("_")}
    services = set(PRESETS) | protocols | {"bedrock", "claude", "anthropic", "google", "openai"}
    named = sorted(s for s in services if re.search(r"\b" + re.escape(s.lower()) + r"\b", text))
    assert named == []
