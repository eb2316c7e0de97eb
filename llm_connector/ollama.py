"""``OllamaClient``: the Ollama chat client plus local model management.

``LlmClient.ollama()`` returns one; it chats like every other client and also lists, shows, pulls, copies and
deletes local models::

    client = LlmClient.ollama()                  # $OLLAMA_HOST, else http://localhost:11434
    for model in client.list_models():
        print(model.name, model.size)
    for progress in client.pull_model_stream("llama3.2"):
        print(progress.status, progress.completed, progress.total)

The wire shapes live in ``llm_connector.protocols.ollama_models``; this class sends them through the client's
one send-read-parse step (``exchange``).
"""

import os
from typing import Any, Callable, List, Optional

from .client import LlmClient
from .errors import IncompleteStreamError
from .protocols import ollama_models as protocol
from .protocols.ollama_models import (
    OllamaModel,
    OllamaModelDetails,
    OllamaModelInfo,
    OllamaProgress,
    OllamaRunningModel,
)
from .stream import Stream
from .transport import HttpRequest, close_response, redact_url

__all__ = [
    "OllamaClient",
    "OllamaModel",
    "OllamaModelDetails",
    "OllamaModelInfo",
    "OllamaProgress",
    "OllamaRunningModel",
]


class OllamaClient(LlmClient):
    """A client for an Ollama server: ``chat``, ``chat_stream`` and ``models`` as on every client, plus model
    management. HTTP errors are typed (an unknown model is a ``NotFoundError`` with Ollama's message).

    ``base_url`` defaults to ``$OLLAMA_HOST``, then ``http://localhost:11434``; ``OLLAMA_HOST`` forms such as
    ``0.0.0.0`` or ``myhost:11434`` are accepted (see ``protocols.ollama.normalize_base_url``).
    """

    def __init__(self, provider: str = "ollama", api_key: Optional[str] = None, *,
                 base_url: Optional[str] = None, **options: Any) -> None:
        if base_url is None:
            base_url = os.environ.get("OLLAMA_HOST") or None
        super().__init__(provider, api_key, base_url=base_url, **options)

    @property
    def base_url(self) -> str:
        """The server's base URL, as requests are sent to it."""
        base: str = self._backend.endpoint.base_url
        return base

    def __repr__(self) -> str:
        return f"OllamaClient(base_url={redact_url(self.base_url)!r})"

    # -- sending: the client's one send-read-parse step -------------------------------------------------

    def _call(self, http: HttpRequest, what: str, decode: Callable[[Any, Any], Any]) -> Any:
        backend = self._backend
        return backend.exchange(http, backend.endpoint, what, decode)

    def _call_no_answer(self, http: HttpRequest) -> None:
        backend = self._backend
        backend.transport.read_all(backend.open(http, backend.endpoint))

    # -- model management -------------------------------------------------------------------------------

    def list_models(self) -> List[OllamaModel]:
        """The models on the server (``GET /api/tags``), with size, digest and details."""
        models: List[OllamaModel] = self._call(protocol.encode_list_models(self._backend.endpoint), "model list",
                                               protocol.decode_model_list)
        return models

    def show_model(self, name: str, *, verbose: bool = False) -> OllamaModelInfo:
        """What Ollama knows about model ``name`` (``POST /api/show``): Modelfile, template, parameters,
        details, capabilities. ``NotFoundError`` when there is no such model."""
        info: OllamaModelInfo = self._call(protocol.encode_show(self._backend.endpoint, name, verbose),
                                           "model information", protocol.decode_model_info)
        return info

    def pull_model_stream(self, name: str, *, insecure: bool = False) -> Stream[OllamaProgress]:
        """Download model ``name``, yielding each progress line as it arrives (``POST /api/pull``).

        The last item has ``status == "success"``. Leaving the loop closes the connection (the server goes on
        downloading; a later pull resumes). An ``{"error": ...}`` line raises the typed error.
        """
        backend = self._backend
        endpoint = backend.endpoint
        response = backend.open(protocol.encode_pull(endpoint, name, insecure), endpoint)
        progress = protocol.decode_progress(backend.transport.iter_bytes(response), endpoint)
        return Stream(progress, response=response, on_close=lambda: close_response(response))

    def pull_model(self, name: str, *, insecure: bool = False) -> OllamaProgress:
        """Download model ``name`` and return the final status (``status == "success"``), waiting until done.

        The progress is read as it streams, so a long download never looks like an idle connection.
        """
        last: Optional[OllamaProgress] = None
        with self.pull_model_stream(name, insecure=insecure) as stream:
            for progress in stream:
                last = progress
        if last is None:  # pragma: no cover - decode_progress raises before this
            raise IncompleteStreamError(f"{self._provider}: the pull ended without progress",
                                        provider=self._provider)
        return last

    def copy_model(self, source: str, destination: str) -> None:
        """Copy model ``source`` to the new name ``destination`` (``POST /api/copy``)."""
        self._call_no_answer(protocol.encode_copy(self._backend.endpoint, source, destination))

    def delete_model(self, name: str) -> None:
        """Delete model ``name`` and its data (``DELETE /api/delete``). ``NotFoundError`` when there is none."""
        self._call_no_answer(protocol.encode_delete(self._backend.endpoint, name))

    def running_models(self) -> List[OllamaRunningModel]:
        """The models loaded in memory (``GET /api/ps``)."""
        models: List[OllamaRunningModel] = self._call(protocol.encode_running_models(self._backend.endpoint),
                                                      "running model list", protocol.decode_running_models)
        return models

    def version(self) -> str:
        """The server's version, e.g. ``"0.6.2"`` (``GET /api/version``)."""
        version: str = self._call(protocol.encode_version(self._backend.endpoint), "version", protocol.decode_version)
        return version
