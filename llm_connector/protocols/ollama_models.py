"""Ollama's model management: ``/api/tags``, ``/api/show``, ``/api/pull``, ``/api/copy``, ``DELETE /api/delete``,
``/api/ps`` and ``/api/version``, both ways (the chat protocol is ``protocols.ollama``).

Each operation is an ``encode_*(endpoint, ...) -> HttpRequest`` and, where Ollama answers with data, a
``decode_*(data, endpoint)`` of the parsed JSON (``decode_progress`` reads the NDJSON body of a pull).
``OllamaClient`` (``llm_connector.ollama``) sends them through the client's one send-read-parse step.
"""

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

from ..errors import ConfigurationError, IncompleteStreamError, StreamParseError, shorten
from ..lines import iter_ndjson
from ..transport import HttpRequest
from ..types import _Data
from . import Endpoint, loads
from .ollama import NAME, _object, api_request, model_items

__all__ = [
    "OllamaModelDetails",
    "OllamaModel",
    "OllamaRunningModel",
    "OllamaModelInfo",
    "OllamaProgress",
    "encode_list_models",
    "decode_model_list",
    "encode_show",
    "decode_model_info",
    "encode_pull",
    "decode_progress",
    "encode_copy",
    "encode_delete",
    "encode_running_models",
    "decode_running_models",
    "encode_version",
    "decode_version",
]


class OllamaModelDetails(_Data):
    """What a model is, as ``/api/tags``, ``/api/show`` and ``/api/ps`` describe it.

    ``format``: the file format, e.g. ``"gguf"``; ``family``: e.g. ``"llama"``; ``parameter_size``: e.g.
    ``"8.0B"``; ``quantization_level``: e.g. ``"Q4_0"``.
    """

    __slots__ = ("parent_model", "format", "family", "families", "parameter_size", "quantization_level")

    def __init__(self, parent_model: Optional[str] = None, format: Optional[str] = None,
                 family: Optional[str] = None, families: Optional[List[str]] = None,
                 parameter_size: Optional[str] = None, quantization_level: Optional[str] = None) -> None:
        self.parent_model = parent_model
        self.format = format
        self.family = family
        self.families = families
        self.parameter_size = parameter_size
        self.quantization_level = quantization_level


class OllamaModel(_Data):
    """One local model from ``/api/tags``.

    ``name``: the name to use in requests, e.g. ``"llama3.2:latest"``; ``modified_at``: RFC 3339 time of the
    last change, as Ollama wrote it; ``size``: bytes on disk.
    """

    __slots__ = ("name", "model", "modified_at", "size", "digest", "details", "raw")
    _nested = {"details": OllamaModelDetails}

    def __init__(self, name: str = "", model: str = "", modified_at: Optional[str] = None,
                 size: Optional[int] = None, digest: Optional[str] = None,
                 details: Optional[OllamaModelDetails] = None, raw: Any = None) -> None:
        self.name = name
        self.model = model
        self.modified_at = modified_at
        self.size = size
        self.digest = digest
        self.details = details
        self.raw = raw


class OllamaRunningModel(_Data):
    """One model loaded in memory, from ``/api/ps``.

    ``size``: bytes in memory; ``expires_at``: RFC 3339 time at which Ollama unloads it; ``size_vram``: bytes
    of it in GPU memory; ``context_length``: the context window it was loaded with (newer servers).
    """

    __slots__ = ("name", "model", "size", "digest", "details", "expires_at", "size_vram", "context_length", "raw")
    _nested = {"details": OllamaModelDetails}

    def __init__(self, name: str = "", model: str = "", size: Optional[int] = None, digest: Optional[str] = None,
                 details: Optional[OllamaModelDetails] = None, expires_at: Optional[str] = None,
                 size_vram: Optional[int] = None, context_length: Optional[int] = None, raw: Any = None) -> None:
        self.name = name
        self.model = model
        self.size = size
        self.digest = digest
        self.details = details
        self.expires_at = expires_at
        self.size_vram = size_vram
        self.context_length = context_length
        self.raw = raw


class OllamaModelInfo(_Data):
    """What ``/api/show`` tells about a model.

    ``parameters``: the Modelfile's PARAMETER lines, as text; ``model_info``: the model file's metadata
    (``"llama.context_length"``, ...); ``capabilities``: e.g. ``["completion", "tools", "thinking", "vision"]``
    (newer servers).
    """

    __slots__ = ("modelfile", "parameters", "template", "system", "license", "details", "model_info",
                 "capabilities", "modified_at", "raw")
    _nested = {"details": OllamaModelDetails}

    def __init__(self, modelfile: Optional[str] = None, parameters: Optional[str] = None,
                 template: Optional[str] = None, system: Optional[str] = None, license: Optional[str] = None,
                 details: Optional[OllamaModelDetails] = None, model_info: Optional[Dict[str, Any]] = None,
                 capabilities: Optional[List[str]] = None, modified_at: Optional[str] = None,
                 raw: Any = None) -> None:
        self.modelfile = modelfile
        self.parameters = parameters
        self.template = template
        self.system = system
        self.license = license
        self.details = details
        self.model_info = model_info
        self.capabilities = capabilities
        self.modified_at = modified_at
        self.raw = raw


class OllamaProgress(_Data):
    """One progress line of ``/api/pull``; the last one has ``status == "success"``.

    ``status``: ``"pulling manifest"``, ``"pulling <digest>"``, ``"verifying sha256 digest"``, ``"success"``,
    ...; ``digest``: the layer being downloaded; ``total``: the layer's size in bytes; ``completed``: bytes of
    the layer downloaded so far (absent until some are).
    """

    __slots__ = ("status", "digest", "total", "completed", "raw")

    def __init__(self, status: str = "", digest: Optional[str] = None, total: Optional[int] = None,
                 completed: Optional[int] = None, raw: Any = None) -> None:
        self.status = status
        self.digest = digest
        self.total = total
        self.completed = completed
        self.raw = raw

    @property
    def fraction(self) -> Optional[float]:
        """``completed / total`` for a download line, else None."""
        if not self.total:
            return None
        return (self.completed or 0) / self.total


def encode_list_models(endpoint: Endpoint) -> HttpRequest:
    """``GET /api/tags``: the local models."""
    return api_request("GET", endpoint, "api/tags")


def decode_model_list(data: Any, endpoint: Endpoint) -> List[OllamaModel]:
    models = [OllamaModel.from_dict(m) for m in model_items(data, endpoint, "model list")]
    for m in models:
        m.name = m.name or m.model
    return models


def _need(name: str, what: str = "name") -> str:
    if not name or not isinstance(name, str):
        raise ConfigurationError(f"{what}: a model name is needed", provider=NAME)
    return name


def encode_show(endpoint: Endpoint, name: str, verbose: bool = False) -> HttpRequest:
    """``POST /api/show {"model"}`` (``verbose`` asks for the full tokenizer data too)."""
    body: Dict[str, Any] = {"model": _need(name)}
    if verbose:
        body["verbose"] = True
    return api_request("POST", endpoint, "api/show", body)


def decode_model_info(data: Any, endpoint: Endpoint) -> OllamaModelInfo:
    if not isinstance(data, Mapping):
        raise StreamParseError("the model information is not a JSON object",
                               provider=endpoint.provider, body=shorten(data, 200))
    return OllamaModelInfo.from_dict(data)


def encode_pull(endpoint: Endpoint, name: str, insecure: bool = False) -> HttpRequest:
    """``POST /api/pull {"model", "stream": true}``: progress as NDJSON."""
    body: Dict[str, Any] = {"model": _need(name), "stream": True}
    if insecure:
        body["insecure"] = True
    return api_request("POST", endpoint, "api/pull", body, stream=True)


def decode_progress(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[OllamaProgress]:
    """Pull progress lines as they arrive, up to ``status: "success"``; ``{"error"}`` lines raise the typed
    error, and a body that ends before ``success`` raises ``IncompleteStreamError``."""
    provider = endpoint.provider
    for line in iter_ndjson(chunks):
        obj = _object(loads(line, provider), provider)
        progress = OllamaProgress(str(obj.get("status") or ""), obj.get("digest"), obj.get("total"),
                                  obj.get("completed"), obj)
        yield progress
        if progress.status == "success":
            return
    raise IncompleteStreamError(f'{provider}: the pull progress ended before status "success"',
                                provider=provider)


def encode_copy(endpoint: Endpoint, source: str, destination: str) -> HttpRequest:
    """``POST /api/copy {"source", "destination"}``."""
    body = {"source": _need(source, "source"), "destination": _need(destination, "destination")}
    return api_request("POST", endpoint, "api/copy", body)


def encode_delete(endpoint: Endpoint, name: str) -> HttpRequest:
    """``DELETE /api/delete {"model"}`` (an HTTP DELETE with a JSON body, as Ollama documents)."""
    return api_request("DELETE", endpoint, "api/delete", {"model": _need(name)})


def encode_running_models(endpoint: Endpoint) -> HttpRequest:
    """``GET /api/ps``: the models loaded in memory."""
    return api_request("GET", endpoint, "api/ps")


def decode_running_models(data: Any, endpoint: Endpoint) -> List[OllamaRunningModel]:
    models = [OllamaRunningModel.from_dict(m) for m in model_items(data, endpoint, "running model list")]
    for m in models:
        m.name = m.name or m.model
    return models


def encode_version(endpoint: Endpoint) -> HttpRequest:
    """``GET /api/version``."""
    return api_request("GET", endpoint, "api/version")


def decode_version(data: Any, endpoint: Endpoint) -> str:
    version = data.get("version") if isinstance(data, Mapping) else None
    if not isinstance(version, str):
        raise StreamParseError("the version answer has no 'version'",
                               provider=endpoint.provider, body=shorten(data, 200))
    return version
