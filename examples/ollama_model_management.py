"""Manage the models of a local Ollama server: version, local and running models, details, pull with progress.

    python examples/ollama_model_management.py               # look around
    python examples/ollama_model_management.py --pull NAME   # download NAME, showing progress

The server is found at $OLLAMA_HOST (default http://localhost:11434). When none answers, the script says so and
exits with status 0.
"""

import sys

from llm_connector import APIConnectionError, LlmConnectorError
from llm_connector.ollama import OllamaClient


def show_overview(client: OllamaClient) -> None:
    models = client.list_models()
    print(f"{len(models)} local model(s):")
    for model in models:
        details = model.details
        size = f"{model.size / 1e9:.1f} GB" if model.size else "?"
        kind = f"{details.family} {details.parameter_size} {details.quantization_level}" if details else ""
        print(f"  {model.name:40} {size:>9}  {kind}")
    running = client.running_models()
    print(f"{len(running)} loaded in memory: " + ", ".join(m.name for m in running))
    if models:
        info = client.show_model(models[0].name)
        print(f"\n{models[0].name}: capabilities {info.capabilities or '?'}")
        print((info.parameters or "(no parameters)").strip())


def pull(client: OllamaClient, name: str) -> None:
    """Pull ``name``, printing each progress line as it arrives."""
    status = None
    for progress in client.pull_model_stream(name):
        if status is not None and progress.status != status:
            print()  # a new step: keep the last line of the previous one
        status = progress.status
        fraction = progress.fraction
        print(f"\r{status} {fraction * 100:5.1f}%" if fraction is not None else status, end="", flush=True)
    print(f"\npulled {name}")


def main() -> int:
    client = OllamaClient(timeout=(2.0, 300.0), max_retries=0)
    try:
        print(f"Ollama {client.version()} at {client.base_url}")
    except APIConnectionError:
        print(f"No Ollama server is reachable at {client.base_url}: start one with `ollama serve` "
              "(or set OLLAMA_HOST) and run this again.")
        return 0
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "--pull":
            pull(client, sys.argv[2])
        else:
            show_overview(client)
    except LlmConnectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
