"""``durable-ext -v``: our INFO records without the Azure SDK's per-request records."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from azure_durable_ext.cli.main import AZURE_HTTP_LOGGER, configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    http = logging.getLogger(AZURE_HTTP_LOGGER)
    saved = (root.level, list(root.handlers), http.level)
    try:
        yield
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        http.setLevel(saved[2])


@pytest.mark.parametrize(
    ("verbose", "ours", "sdk_requests"),
    [(0, False, False), (1, True, False), (2, True, True)],
)
def test_verbosity_levels(restored_logging: None, verbose: int, ours: bool, sdk_requests: bool) -> None:
    logging.getLogger().handlers[:] = []  # as in a fresh process: basicConfig applies
    configure_logging(verbose)
    assert logging.getLogger("azure_durable_ext.storage.azure.service").isEnabledFor(logging.INFO) is ours
    assert logging.getLogger(AZURE_HTTP_LOGGER).isEnabledFor(logging.INFO) is sdk_requests
