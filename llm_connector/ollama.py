"""``OllamaClient``: the Ollama chat client plus local model management (defined in ``client.py``, beside
``LlmClient``; this module keeps the import path and the model classes together).

``LlmClient.ollama()`` returns one; it chats like every other client and also lists, shows, pulls, copies and
deletes local models::

    client = LlmClient.ollama()                  # $OLLAMA_HOST, else http://localhost:11434
    for model in client.list_models():
        print(model.name, model.size)
    for progress in client.pull_model_stream("llama3.2"):
        print(progress.status, progress.completed, progress.total)

The wire shapes live in ``llm_connector.protocols.ollama_models``.
"""

from .client import OllamaClient
from .protocols.ollama_models import (
    OllamaModel,
    OllamaModelDetails,
    OllamaModelInfo,
    OllamaProgress,
    OllamaRunningModel,
)

__all__ = [
    "OllamaClient",
    "OllamaModel",
    "OllamaModelDetails",
    "OllamaModelInfo",
    "OllamaProgress",
    "OllamaRunningModel",
]
