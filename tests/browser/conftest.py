"""Fixtures of the browser tests: Debian's chromium driven through chromedriver by selenium,
and the local API of the API tests (the same fixture, so these follow how the API tests start
the local front and the model server).

The browser is the system one (``apt-get install chromium chromium-driver``; ``make test``
installs it where it is missing); selenium is pointed at both binaries, so Selenium Manager
never downloads anything. Where they are absent the tests skip with one line.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--force-device-scale-factor=1",
)
API_TESTS = Path(__file__).resolve().parents[1] / "api"


def _api_fixtures():
    # tests/api/conftest.py is not visible from this folder; its fixtures are reused as they
    # are (loaded by path, with its helpers' folder importable), not copied.
    if str(API_TESTS) not in sys.path:
        sys.path.insert(0, str(API_TESTS))
    spec = importlib.util.spec_from_file_location("browser_api_fixtures", API_TESTS / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


local_api = _api_fixtures().local_api


@pytest.fixture(scope="session")
def chromium_binaries():
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.skip(f"no headless browser: {', '.join(missing)} missing (apt-get install -y chromium chromium-driver)")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture
def browser(chromium_binaries, tmp_path):
    """A fresh headless chromium (its own profile folder), its console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from headlines.local.endpoint import free_port

    chromium, chromedriver = chromium_binaries
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(chromedriver), port=free_port(),
                      log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
