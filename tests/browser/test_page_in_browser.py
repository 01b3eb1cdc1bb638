"""The page at GET / in a real headless browser, against the whole local API on the real tiny
model: load it, type a headline, submit, read the category; errors as the API returns them;
keyboard and screen-reader basics; a narrow screen; no console errors (CSP violations
included); a screenshot of each under the test's tmp dir (HEADLINES_SCREENSHOT_DIR: also
copied there). The screenshots the docs embed (the wide page, an error, the API-key field)
replace docs/images/<name> when they changed visibly (tests/conftest.py: publish_screenshot)."""
from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("local-api")]
CATEGORIES = {"business", "science_technology", "entertainment", "health"}
WAIT_SECONDS = 30


def _wait(driver, condition, timeout: float = WAIT_SECONDS):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _classify_directly(api, headline: str):
    request = urllib.request.Request(f"{api.url}/v1/classify", method="POST",
                                     data=json.dumps({"headline": headline}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def _console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(driver, tmp_path: Path, name: str, publish=None) -> Path:
    """The whole page as ``<tmp_path>/<name>.png``; ``publish``: the docs' screenshot too."""
    # The whole page: grow the window to the document's height first.
    width = driver.execute_script("return window.innerWidth")
    height = driver.execute_script("return Math.max(document.body.scrollHeight, 900)")
    driver.set_window_size(driver.get_window_size()["width"], min(height + 120, 6000))
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path))
    copy_to = os.environ.get("HEADLINES_SCREENSHOT_DIR")
    if copy_to:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(copy_to) / path.name)
    if publish is not None:
        publish(path)
    assert width > 0
    return path


def _open(driver, api):
    from selenium.webdriver.common.by import By

    driver.get(api.url + "/")
    _wait(driver, lambda d: d.find_element(By.ID, "model-version").text.strip())
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#swagger-ui .opblock"))


def _submit(driver, text: str):
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "headlines")
    box.clear()
    if text:
        box.send_keys(text)
    driver.find_element(By.ID, "classify").click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#result .prediction, #result .error"))


def test_a_person_types_a_headline_and_reads_its_category(browser, local_api, tmp_path, publish_screenshot):
    from selenium.webdriver.common.by import By

    headline = "New Ebola case confirmed in Guinea"
    expected = _classify_directly(local_api, headline)
    _open(browser, local_api)
    assert "text/html" in urllib.request.urlopen(local_api.url + "/", timeout=30).headers["Content-Type"]

    _submit(browser, headline)
    category = browser.find_element(By.CSS_SELECTOR, "#result .category")
    assert category.get_attribute("data-category") == expected["category"]
    assert category.get_attribute("data-category") in CATEGORIES
    assert browser.find_element(By.CSS_SELECTOR, "#result .headline").text == headline
    scores = browser.find_elements(By.CSS_SELECTOR, "#result .score")
    assert len(scores) == 4
    shown = {row.find_element(By.CSS_SELECTOR, ".score-value").text for row in scores}
    assert f"{100 * expected['scores'][expected['category']]:.1f} %" in shown
    # the model panel: identity from /v1/health, test metrics from the classification
    assert browser.find_element(By.ID, "model-version").text == expected["model"]["version"]
    if "test_accuracy" in expected["model"]:
        assert browser.find_element(By.ID, "model-test_accuracy").text == f"{expected['model']['test_accuracy']:.4f}"
    # the reference documents POST /v1/classify
    paths = {node.get_attribute("data-path") for node in browser.find_elements(By.CSS_SELECTOR, "#swagger-ui .opblock-summary-path")}
    assert "/v1/classify" in paths and "/v1/health" in paths
    post = browser.find_element(By.CSS_SELECTOR, "#swagger-ui .opblock-post")
    assert "/v1/classify" in post.text
    # every file came from this origin (the CSP would block others; check nothing tried)
    origins = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return new URL(e.name).origin; })")
    assert origins and set(origins) == {local_api.url}
    assert _console_errors(browser) == []
    _screenshot(browser, tmp_path, "page-wide", publish_screenshot)


def test_a_batch_gets_one_result_per_line(browser, local_api):
    from selenium.webdriver.common.by import By

    _open(browser, local_api)
    _submit(browser, "Fed raises interest rates again\nApple unveils a new iPhone\n\nKim Kardashian wedding photos released")
    predictions = browser.find_elements(By.CSS_SELECTOR, "#result .prediction")
    assert [p.find_element(By.CSS_SELECTOR, ".headline").text for p in predictions] == [
        "Fed raises interest rates again", "Apple unveils a new iPhone", "Kim Kardashian wedding photos released"]
    assert all(p.find_element(By.CSS_SELECTOR, ".category").get_attribute("data-category") in CATEGORIES for p in predictions)
    assert _console_errors(browser) == []


def test_errors_are_shown_as_the_api_returns_them(browser, local_api, tmp_path, publish_screenshot):
    from selenium.webdriver.common.by import By

    _open(browser, local_api)
    _submit(browser, "")
    error = browser.find_element(By.CSS_SELECTOR, "#result .error")
    assert error.get_attribute("role") == "alert"
    assert "HTTP 400 bad_request: 'headline' must not be empty or whitespace" in error.text
    assert "Request id: " in error.text
    # A 400 fetch is logged by chromium as a failed resource: that is the only entry allowed.
    errors = _console_errors(browser)
    assert all("v1/classify" in entry["message"] and "400" in entry["message"] for entry in errors), errors
    _screenshot(browser, tmp_path, "page-error", publish_screenshot)


# WCAG 2 contrast of each element's text against the first opaque background behind it.
CONTRAST_SCRIPT = """
function channel(c) { c = c / 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }
function luminance(rgb) { return 0.2126 * channel(rgb[0]) + 0.7152 * channel(rgb[1]) + 0.0722 * channel(rgb[2]); }
function parse(text) { return text.match(/[\\d.]+/g).map(Number); }
function background(node) {
  for (; node; node = node.parentElement) {
    var rgba = parse(getComputedStyle(node).backgroundColor);
    if (rgba.length < 4 || rgba[3] === 1) { return rgba; }
  }
  return [255, 255, 255];
}
return Array.prototype.map.call(document.querySelectorAll(arguments[0]), function (node) {
  var a = luminance(parse(getComputedStyle(node).color)), b = luminance(background(node));
  return [node.className || node.tagName, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
});
"""
OWN_TEXT = ("header.site h1, header.site p, #try label, #try .hint, #classify, #result .headline, #result .score-name, "
            "#result .score-value, #result .verdict, #model dt, #model dd, #reference .hint, .skip, "
            "#swagger-ui .opblock-summary-method")


def test_keyboard_and_screen_reader_basics(browser, local_api):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, local_api)
    # every form control has a label; the result is announced politely
    for control in browser.find_elements(By.CSS_SELECTOR, "#try textarea, #try input"):
        assert browser.execute_script("return arguments[0].labels.length", control) == 1, control.get_attribute("id")
    result = browser.find_element(By.ID, "result")
    assert result.get_attribute("aria-live") == "polite" and result.get_attribute("role") == "status"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    # one h1 in what is rendered (Swagger UI's own title is display: none, so out of the a11y tree too)
    assert [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h1") if h.is_displayed()] == ["Headlines classification API"]

    # focus order: skip link, the headlines box, the button (the API-key field is hidden here)
    order = []
    for _ in range(3):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order.append(browser.switch_to.active_element.get_attribute("id") or browser.switch_to.active_element.text)
    assert order == ["Skip to the try-it box", "headlines", "classify"], order
    outline = browser.execute_script("var s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]")
    assert outline[0] != "none" and outline[1] != "0px", outline  # focus is visible

    # submit with the keyboard alone
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#result .prediction"))
    assert browser.find_element(By.CSS_SELECTOR, "#result .category").get_attribute("data-category") in CATEGORIES

    # text contrast (WCAG AA: 4.5:1) of the page's own text and Swagger UI's method badges
    ratios = browser.execute_script(CONTRAST_SCRIPT, OWN_TEXT)
    assert len(ratios) > 20
    low = [(name, round(ratio, 2)) for name, ratio in ratios if ratio < 4.5]
    assert low == [], low
    assert _console_errors(browser) == []


def test_a_narrow_screen_has_no_sideways_scrolling(browser, local_api, tmp_path):
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    _open(browser, local_api)
    _submit(browser, "Apple unveils a new iPhone")
    assert browser.find_element(By.CSS_SELECTOR, "#result .category").get_attribute("data-category") in CATEGORIES
    widths = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths
    textarea = browser.find_element(By.ID, "headlines")
    assert textarea.rect["x"] >= 0 and textarea.rect["x"] + textarea.rect["width"] <= widths[1]
    assert _console_errors(browser) == []
    _screenshot(browser, tmp_path, "page-narrow")


class _KeyedGateway(BaseHTTPRequestHandler):
    """In front of the local API: what API Gateway does with api_key_required=true, as far
    as the page can tell. /v1/* without the key gets the gateway's INVALID_API_KEY answer
    (infra/rest_api.py's template); everything else is passed through unchanged."""

    api_url = ""
    api_key = "k-" + uuid.uuid4().hex
    seen_keys: list = []

    def log_message(self, *args):
        pass

    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        if self.path.startswith("/v1/"):
            self.seen_keys.append(self.headers.get("x-api-key"))
            if self.headers.get("x-api-key") != self.api_key:
                request_id = str(uuid.uuid4())
                payload = json.dumps({"error": {"code": "forbidden", "request_id": request_id,
                                                "message": "missing or invalid API key: send it in the x-api-key header"}}).encode()
                self.send_response(403)
                for name, value in (("Content-Type", "application/json"), ("X-Request-Id", request_id),
                                    ("Content-Length", str(len(payload)))):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        request = urllib.request.Request(self.api_url + self.path, data=body, method=self.command, headers=headers)
        try:
            answer = urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as error:
            answer = error
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward


def test_where_keys_are_required_the_page_asks_for_one_and_sends_it(browser, local_api, tmp_path, publish_screenshot):
    from selenium.webdriver.common.by import By

    handler = type("Gateway", (_KeyedGateway,), {"api_url": local_api.url, "seen_keys": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        browser.get(url + "/")
        field = browser.find_element(By.ID, "api-key-field")
        _wait(browser, lambda d: field.is_displayed())  # the health check's 403 shows the field
        assert "forbidden" in browser.find_element(By.ID, "model-status").text
        _submit(browser, "Fed raises interest rates again")
        assert "HTTP 403 forbidden: missing or invalid API key" in browser.find_element(By.CSS_SELECTOR, "#result .error").text

        browser.find_element(By.ID, "api-key").send_keys(handler.api_key)
        _submit(browser, "Fed raises interest rates again")
        assert browser.find_element(By.CSS_SELECTOR, "#result .category").get_attribute("data-category") in CATEGORIES
        assert handler.seen_keys[-1] == handler.api_key and handler.seen_keys[0] is None
        # the 403s are the only console entries
        errors = _console_errors(browser)
        assert all("403" in entry["message"] for entry in errors), errors
        _screenshot(browser, tmp_path, "page-api-key", publish_screenshot)
    finally:
        server.shutdown()
        server.server_close()
