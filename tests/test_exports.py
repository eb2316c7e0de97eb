"""The public surface: __all__ is complete and importable, and importing costs only the stdlib + requests."""

import subprocess
import sys

import llm_connector


def test_every_name_in_all_is_importable():
    for name in llm_connector.__all__:
        assert hasattr(llm_connector, name), name


def test_public_classes_are_exported():
    exported = set(llm_connector.__all__)
    assert {"LlmClient", "ChatRequest", "Message", "Role", "StreamingResponse", "ChatResponse",
            "OllamaStreamChunk", "LlmConnectorError", "RateLimitError", "IncompleteStreamError"} <= exported


def test_types_module_path_of_the_seed_works():
    from llm_connector.types import ChatRequest, Message, Role  # noqa: F401


def test_import_loads_only_stdlib_requests_and_typing_extensions():
    code = (
        "import sys; before = set(sys.modules); import llm_connector; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; print(' '.join(sorted(new)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    stdlib = getattr(sys, "stdlib_module_names", None)
    allowed = {"llm_connector", "requests", "urllib3", "charset_normalizer", "chardet", "idna", "certifi",
               "typing_extensions", "_cffi_backend", "simplejson", "brotli", "brotlicffi", "socks", "zstandard",
               "cryptography", "OpenSSL", "_brotli", "cython_runtime"}
    foreign = [m for m in out if m not in allowed and not (stdlib and m in stdlib)
               and not m.startswith("_") and not m.endswith("__mypyc")]
    if stdlib is None:  # Python < 3.10: no list of stdlib modules; check the obvious heavy ones at least
        foreign = [m for m in foreign if m in {"openai", "anthropic", "httpx", "pydantic", "aiohttp", "numpy"}]
    assert foreign == []
    # No protocol module is loaded by the import itself: checked on full module names in
    # test_protocol_contract.py (this test sees top-level package names only).
