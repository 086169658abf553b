"""The bad-input corpus and the reader tests again, read in tiny batches: a batch boundary
(5 bytes of text, one Parquet row) changes nothing, not a line number, reason or count."""

import pytest

from recsys_core.data import lines, readers
from tests.test_bad_files import *  # noqa: F403 (collected again under the fixture below)
from tests.test_bad_input import *  # noqa: F403
from tests.test_readers import *  # noqa: F403


@pytest.fixture(autouse=True)
def tiny_batches(monkeypatch):
    monkeypatch.setattr(lines, "BATCH_BYTES", 5)
    monkeypatch.setattr(readers, "BATCH_ROWS", 1)
