"""GET /dashboard on the local API in a real headless browser: headlines sent through the API
(single and batch) show up with the same figures, drift against the training mix, no console
errors (CSP violations included), a usable keyboard order, and no sideways scrolling at 390 px.
The model is the API tests' stand-in (category number len(text) % 4), with a training mix."""
from __future__ import annotations

import json
import shutil
import urllib.request
from collections import Counter

import pytest
from api_support import fake_model_dir  # noqa: F401 - fixture
from test_page_in_browser import _console_errors, _screenshot, _wait

from headlines.results.store import Store

pytestmark = [pytest.mark.slow]
CATEGORIES = ["business", "science_technology", "entertainment", "health"]
TRAINING_MIX = {"business": 0.25, "science_technology": 0.25, "entertainment": 0.25, "health": 0.25}
HEADLINES = [f"Headline number {'x' * n}" for n in range(31)]


def _post(url, body):
    request = urllib.request.Request(url + "/v1/classify", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def recorded_api(fake_model_dir, tmp_path_factory):  # noqa: F811 - the fixture imported above
    from headlines.local import container_env
    from headlines.local.api_front import start_local_api

    reason = container_env.available()
    if reason:
        pytest.skip(reason)
    model = tmp_path_factory.mktemp("model") / "model"
    shutil.copytree(fake_model_dir, model)
    metrics = json.loads((model / "metrics.json").read_text())
    (model / "metrics.json").write_text(json.dumps({**metrics, "data": {"category_mix": TRAINING_MIX}}))
    store = Store(tmp_path_factory.mktemp("work") / "results")
    with start_local_api(model, workers=1, handler_workers=2, results=store) as api:
        for text in HEADLINES[:6]:
            _post(api.url, {"headline": text})
        _post(api.url, {"headlines": HEADLINES[6:]})
        yield api


def _open(driver, api):
    from selenium.webdriver.common.by import By

    driver.get(api.url + "/dashboard")
    _wait(driver, lambda d: "records" in d.find_element(By.ID, "status").text)


def test_the_dashboard_shows_what_was_sent(browser, recorded_api, tmp_path, publish_screenshot):
    from selenium.webdriver.common.by import By

    _open(browser, recorded_api)
    expected = Counter(CATEGORIES[len(text) % 4] for text in HEADLINES)
    assert browser.find_element(By.ID, "total-records").text == str(len(HEADLINES))
    rows = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in browser.find_elements(By.CSS_SELECTOR, "#by-category tbody tr")]
    assert {row[0]: int(row[1]) for row in rows} == {name: expected[name] for name in CATEGORIES}
    assert all(row[3] == "25.0 %" for row in rows)
    live = {name: expected[name] / len(HEADLINES) for name in CATEGORIES}
    distance = sum(abs(live[name] - 0.25) for name in CATEGORIES) / 2
    assert browser.find_element(By.ID, "drift-distance").text == f"{distance:.3f}"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#latest tbody tr")) == 20
    assert len(browser.find_elements(By.CSS_SELECTOR, "#uncertain tbody tr")) == 20
    models = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#models tbody tr")]
    assert len(models) == 1 and models[0].startswith("fake-1 31")
    assert browser.execute_script("return document.querySelectorAll('canvas').length") == 4
    assert _console_errors(browser) == []
    # The published screenshot changes only when the page does: the clock's text is fixed first.
    browser.execute_script(
        "document.querySelectorAll('#latest td:first-child, #uncertain td:first-child, #models td:last-child')"
        ".forEach(function (cell) { cell.textContent = '2026-12-07 05:32:32'; });"
        "document.getElementById('status').textContent = '31 records, updated 05:32:37 UTC';")
    _screenshot(browser, tmp_path, "dashboard", publish_screenshot)


def test_the_dashboard_by_keyboard_and_at_390_px(browser, recorded_api, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.set_window_size(390, 844)
    _open(browser, recorded_api)
    order = []
    for _ in range(2):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order.append(browser.switch_to.active_element.get_attribute("id") or browser.switch_to.active_element.text)
    assert order == ["API reference and try-it page", "refresh"], order
    outline = browser.execute_script("var s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]")
    assert outline[0] != "none" and outline[1] != "0px", outline
    ActionChains(browser).send_keys(Keys.ENTER).perform()  # refresh, by keyboard
    _wait(browser, lambda d: "records" in d.find_element(By.ID, "status").text)
    widths = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert _console_errors(browser) == []
    _screenshot(browser, tmp_path, "dashboard-narrow")
