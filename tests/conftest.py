"""Shared fixtures: a scripted local server on 127.0.0.1 and clients pointed at it."""

from typing import Iterator

import pytest

from llm_connector.testing import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as s:
        yield s
