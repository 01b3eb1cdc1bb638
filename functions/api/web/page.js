// The page at GET /: the try-it box, the model panel and the Swagger UI reference.
// Plain DOM code on purpose: three small widgets do not need a framework, and everything here
// must pass the page's Content-Security-Policy (no inline script, no eval, only this origin).
"use strict";

(function () {
  var CATEGORY_NAMES = {
    business: "Business",
    science_technology: "Science and technology",
    entertainment: "Entertainment",
    health: "Health"
  };
  var CATEGORY_ORDER = ["business", "science_technology", "entertainment", "health"];
  var maxBatch = 100;

  function byId(id) { return document.getElementById(id); }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function percent(value) {
    return (100 * value).toFixed(1) + " %";
  }

  // --- calling the API (relative URLs: the page lives at the API's base URL) ----------------
  function apiKeyHeaders() {
    var key = byId("api-key").value.trim();
    return key ? { "x-api-key": key } : {};
  }

  function showApiKeyField() {
    var field = byId("api-key-field");
    if (field.hidden) { field.hidden = false; }
  }

  // Resolves to {status, body, requestId}; body is the parsed JSON or null.
  function call(method, path, payload) {
    var headers = apiKeyHeaders();
    var options = { method: method, headers: headers, cache: "no-store" };
    if (payload !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch(path, options).then(function (response) {
      return response.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (ignored) { body = null; }
        if (response.status === 403) { showApiKeyField(); }
        return { status: response.status, body: body, text: text,
                 requestId: response.headers.get("X-Request-Id") || "" };
      });
    });
  }

  // --- the model panel ---------------------------------------------------------------------
  var METRICS = [["test_accuracy", "Test accuracy"], ["test_macro_f1", "Test macro-F1"]];

  function setModelRow(key, label, value) {
    var list = byId("model-info");
    var row = byId("model-" + key);
    if (!row) {
      list.appendChild(element("dt", null, label));
      row = element("dd");
      row.id = "model-" + key;
      list.appendChild(row);
    }
    row.textContent = value;
  }

  function showModelInfo(model) {
    if (!model) { return; }
    if (model.version) { setModelRow("version", "Version", model.version); }
    if (model.endpoint) { setModelRow("endpoint", "Endpoint", model.endpoint); }
    METRICS.forEach(function (pair) {
      if (typeof model[pair[0]] === "number") { setModelRow(pair[0], pair[1], model[pair[0]].toFixed(4)); }
    });
  }

  function loadHealth() {
    return call("GET", "v1/health").then(function (answer) {
      if (answer.status === 200 && answer.body && answer.body.model) {
        var model = answer.body.model;
        byId("model-status").textContent = (answer.body.status === "ok" ? "in service" : "degraded") +
          " (endpoint " + (model.status || "unknown") + ")";
        showModelInfo(model);
        // /v1/health names the model; its test metrics come with every classification.
        METRICS.forEach(function (pair) {
          if (!byId("model-" + pair[0])) { setModelRow(pair[0], pair[1], "shown with the first classification"); }
        });
      } else {
        byId("model-status").textContent = describeError(answer);
      }
    }, function (error) {
      byId("model-status").textContent = "the API could not be reached (" + error.message + ")";
    });
  }

  // --- the try-it box ----------------------------------------------------------------------
  function describeError(answer) {
    var error = answer.body && answer.body.error;
    if (error && error.code) {
      return "HTTP " + answer.status + " " + error.code + ": " + error.message;
    }
    return "HTTP " + answer.status + ": " + (answer.text || "no body").slice(0, 300);
  }

  function renderError(container, answer) {
    var box = element("div", "error");
    box.setAttribute("role", "alert");
    box.appendChild(element("p", "error-title", describeError(answer)));
    var id = (answer.body && answer.body.error && answer.body.error.request_id) || answer.requestId;
    if (id) { box.appendChild(element("p", "hint", "Request id: " + id)); }
    var raw = element("details");
    raw.appendChild(element("summary", null, "The API's answer"));
    raw.appendChild(element("pre", null, answer.text || "(empty)"));
    box.appendChild(raw);
    container.appendChild(box);
  }

  function renderPrediction(list, headline, prediction) {
    var item = element("li", "prediction");
    item.appendChild(element("p", "headline", headline));
    var verdict = element("p", "verdict");
    var category = element("strong", "category", CATEGORY_NAMES[prediction.category] || prediction.category);
    category.setAttribute("data-category", prediction.category);
    verdict.appendChild(category);
    verdict.appendChild(document.createTextNode(", confidence " + percent(prediction.confidence)));
    item.appendChild(verdict);

    var scores = element("ul", "scores");
    scores.setAttribute("aria-label", "Scores of the four categories");
    CATEGORY_ORDER.forEach(function (name) {
      var value = Number(prediction.scores[name] || 0);
      var row = element("li", "score" + (name === prediction.category ? " top" : ""));
      row.appendChild(element("span", "score-name", CATEGORY_NAMES[name]));
      var bar = element("span", "bar");
      bar.setAttribute("aria-hidden", "true");
      var fill = element("span", "fill");
      fill.style.width = Math.max(0, Math.min(100, 100 * value)).toFixed(1) + "%";  // CSSOM: allowed by the CSP
      bar.appendChild(fill);
      row.appendChild(bar);
      row.appendChild(element("span", "score-value", percent(value)));
      scores.appendChild(row);
    });
    item.appendChild(scores);
    list.appendChild(item);
  }

  function classify(event) {
    event.preventDefault();
    var button = byId("classify");
    var result = byId("result");
    var lines = byId("headlines").value.split(/\r?\n/).filter(function (line) { return line.trim() !== ""; });
    // Nothing typed still goes to the API: its own error message is what a caller would get.
    var payload = lines.length > 1 ? { headlines: lines } : { headline: lines.length ? lines[0] : byId("headlines").value };
    button.disabled = true;
    result.setAttribute("aria-busy", "true");
    result.textContent = "";
    result.appendChild(element("p", "hint", "Classifying…"));
    call("POST", "v1/classify", payload).then(function (answer) {
      result.textContent = "";
      if (answer.status !== 200 || !answer.body) {
        renderError(result, answer);
        return;
      }
      var predictions = answer.body.predictions || [answer.body];
      var heading = element("h3", null, predictions.length === 1 ? "Result" : predictions.length + " results");
      result.appendChild(heading);
      var list = element("ol", "predictions");
      predictions.forEach(function (prediction, index) {
        renderPrediction(list, lines.length ? lines[index] : payload.headline, prediction);
      });
      result.appendChild(list);
      showModelInfo(answer.body.model);
    }, function (error) {
      result.textContent = "";
      renderError(result, { status: 0, body: null, text: "the API could not be reached: " + error.message, requestId: "" });
    }).then(function () {
      button.disabled = false;
      result.removeAttribute("aria-busy");
    });
  }

  // --- the reference -------------------------------------------------------------------------
  function loadReference() {
    var target = byId("swagger-ui");
    return fetch(target.getAttribute("data-spec")).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    }).then(function (spec) {
      var limit = spec.components && spec.components.schemas && spec.components.schemas.BatchRequest;
      if (limit && limit.properties && limit.properties.headlines.maxItems) {
        maxBatch = limit.properties.headlines.maxItems;
        byId("max-batch").textContent = String(maxBatch);
      }
      // "Try it out" in the reference calls this deployment, wherever it is served from.
      var base = new URL(".", window.location.href).href.replace(/\/$/, "");
      spec.servers = [{ url: base, description: "this deployment" }];
      target.textContent = "";
      window.SwaggerUIBundle({
        spec: spec,
        domNode: target,
        presets: [window.SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
        deepLinking: false,
        validatorUrl: null,
        defaultModelsExpandDepth: 0,
        docExpansion: "list",
        tryItOutEnabled: false
      });
    }).catch(function (error) {
      target.textContent = "The reference could not be loaded (" + error.message + ").";
    });
  }

  function start() {
    byId("classify-form").addEventListener("submit", classify);
    byId("api-key").addEventListener("change", loadHealth);
    loadHealth();
    loadReference();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
