import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as fake_mano


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the coarse-mesh cache of each test session out of the user's home."""
    monkeypatch.setenv("CLIPHAND_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
