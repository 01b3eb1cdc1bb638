"""Fixtures of the API and serving tests (helpers live in api_support.py)."""
import pytest
from api_support import app_module, contract, fake_container, fake_model_dir  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def local_api(tiny_model_dir, sagemaker_python):
    """The whole local path on the real tiny model: front -> handler processes -> local
    SageMaker runtime API -> Multi Model Server with AWS's MXNet serving toolkit (2 workers)."""
    from headlines.local.api_front import start_local_api

    api = start_local_api(tiny_model_dir, workers=2)
    yield api
    api.stop()
