"""``OllamaClient``: the Ollama chat client plus local model management.

``LlmClient.ollama()`` returns one; it chats like every other client and also lists, shows, pulls, copies and
deletes local models::

    client = LlmClient.ollama()                  # $OLLAMA_HOST, else http://localhost:11434
    for model in client.list_models():
        print(model.name, model.size)
    for progress in client.pull_model_stream("llama3.2"):
        print(progress.status, progress.completed, progress.total)

The wire shapes live in ``llm_connector.protocols.ollama``; this class only sends and reads.
"""

import os
from typing import Any, List, Optional

from .client import LlmClient
from .errors import IncompleteStreamError
from .protocols import loads
from .protocols import ollama as protocol
from .protocols.ollama import OllamaModel, OllamaModelDetails, OllamaModelInfo, OllamaProgress, OllamaRunningModel
from .stream import Stream
from .transport import HttpRequest, Response, close_response, redact_url

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

    # -- sending --------------------------------------------------------------------------------------

    def _send(self, http: HttpRequest) -> Response:
        backend = self._backend
        http.headers.update(backend.endpoint.headers)
        response: Response = backend.transport.send(http)
        return response

    def _call(self, http: HttpRequest, what: str) -> Any:
        """Send, read the whole body and parse it as JSON (``what`` names it in a parse error)."""
        body: bytes = self._backend.transport.read_all(self._send(http))
        return loads(body.decode("utf-8", "replace"), self._provider, what)

    def _call_no_answer(self, http: HttpRequest) -> None:
        self._backend.transport.read_all(self._send(http))

    # -- model management -------------------------------------------------------------------------------

    def list_models(self) -> List[OllamaModel]:
        """The models on the server (``GET /api/tags``), with size, digest and details."""
        endpoint = self._backend.endpoint
        return protocol.decode_model_list(self._call(protocol.encode_list_models(endpoint), "model list"), endpoint)

    def show_model(self, name: str, *, verbose: bool = False) -> OllamaModelInfo:
        """What Ollama knows about model ``name`` (``POST /api/show``): Modelfile, template, parameters,
        details, capabilities. ``NotFoundError`` when there is no such model."""
        endpoint = self._backend.endpoint
        data = self._call(protocol.encode_show(endpoint, name, verbose), "model information")
        return protocol.decode_model_info(data, endpoint)

    def pull_model_stream(self, name: str, *, insecure: bool = False) -> Stream[OllamaProgress]:
        """Download model ``name``, yielding each progress line as it arrives (``POST /api/pull``).

        The last item has ``status == "success"``. Leaving the loop closes the connection (the server goes on
        downloading; a later pull resumes). An ``{"error": ...}`` line raises the typed error.
        """
        endpoint = self._backend.endpoint
        response = self._send(protocol.encode_pull(endpoint, name, insecure))
        progress = protocol.decode_progress(self._backend.transport.iter_bytes(response), endpoint)
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
        endpoint = self._backend.endpoint
        data = self._call(protocol.encode_running_models(endpoint), "running model list")
        return protocol.decode_running_models(data, endpoint)

    def version(self) -> str:
        """The server's version, e.g. ``"0.6.2"`` (``GET /api/version``)."""
        endpoint = self._backend.endpoint
        return protocol.decode_version(self._call(protocol.encode_version(endpoint), "version"), endpoint)
