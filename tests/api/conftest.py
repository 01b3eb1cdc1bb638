"""Fixtures of the API and serving tests (helpers live in api_support.py)."""
import pytest

from api_support import app_module, contract, fake_container, fake_model_dir  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def local_api(tiny_model_dir):
    """The whole local path on the real tiny model: front -> handler -> endpoint server."""
    from headlines.api_front import start_local_api

    api = start_local_api(tiny_model_dir)
    yield api
    api.stop()
