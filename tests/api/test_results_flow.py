"""The issue's Done-when, locally: classifications through the local API (HTTP -> front -> a
pool of handler processes -> the serving toolkit), single and batch, then
``headlines results summary --json`` counts exactly what was sent, per category."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections import Counter

import pytest

from headlines.results.store import default_store

pytestmark = [pytest.mark.slow]
# The stand-in model (fake_inference.py) answers category number len(text) % 4.
CATEGORIES = ["business", "science_technology", "entertainment", "health"]


def post(url, body):
    request = urllib.request.Request(url + "/v1/classify", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_what_the_api_answered_is_what_the_summary_counts(fake_model_dir, sagemaker_python, tmp_path):
    from headlines.local.api_front import start_local_api

    workdir = tmp_path / "work"
    headlines = [f"headline {'x' * n}" for n in range(23)]
    with start_local_api(fake_model_dir, workers=1, handler_workers=2, results=default_store(workdir)) as api:
        for text in headlines[:5]:
            assert post(api.url, {"headline": text})["category"] == CATEGORIES[len(text) % 4]
        answer = post(api.url, {"headlines": headlines[5:]})
        assert len(answer["predictions"]) == 18
        # the API answered: now read the store while the handler processes still hold their spool files
        result = subprocess.run([sys.executable, "-m", "headlines.cli", "results", "summary", "--json",
                                 "--workdir", str(workdir)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    expected = Counter(CATEGORIES[len(text) % 4] for text in headlines)
    assert summary["records"] == 23
    assert summary["by_category"] == {name: expected.get(name, 0) for name in CATEGORIES}
    assert summary["by_source"] == {"api": 23}
    assert [v["model_version"] for v in summary["by_model_version"]] == ["fake-1"]
