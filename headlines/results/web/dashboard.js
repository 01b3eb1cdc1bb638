// The local dashboard: draws /dashboard/data (headlines/results/dashboard.py) with Chart.js.
// Text goes into the page with textContent only: headlines are whatever callers sent.
"use strict";

(function () {
  const COLORS = { business: "#0072B2", science_technology: "#B35C00", entertainment: "#CC79A7", health: "#009E73" };
  const charts = {};
  const percent = (value) => (value === null || value === undefined ? "–" : (value * 100).toFixed(1) + " %");
  const fixed = (value, digits) => (value === null || value === undefined ? "–" : Number(value).toFixed(digits));

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
  }

  function fillTable(id, rows, columns) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    for (const item of rows) {
      const row = document.createElement("tr");
      for (const [key, format, className] of columns) cell(row, format(item[key]), className);
      body.appendChild(row);
    }
  }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false }, config.options || {});
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function render(data) {
    const summary = data.summary;
    const categories = data.categories;
    document.getElementById("total-records").textContent = summary.records.toLocaleString("en");
    document.getElementById("mean-confidence").textContent = fixed(summary.mean_confidence, 3);
    document.getElementById("low-threshold").textContent = String(summary.low_confidence.below);
    document.getElementById("low-share").textContent = percent(summary.low_confidence.share);
    const distance = summary.drift.category_distance;
    document.getElementById("drift-distance").textContent = distance === null ? "–" : fixed(distance, 3);
    const baseline = summary.drift.baseline;

    fillTable("by-category", categories.map((name) => ({
      name, records: summary.by_category[name] || 0, share: summary.category_mix[name],
      training: baseline ? baseline[name] : null,
    })), [["name", String], ["records", (v) => v.toLocaleString("en"), "number"], ["share", percent, "number"],
          ["training", percent, "number"]]);

    const hours = [...new Set(data.category_mix_per_hour.map((r) => r.hour))];
    draw("mix-chart", {
      type: "bar",
      data: {
        labels: hours.map((h) => h.slice(0, 16)),
        datasets: categories.map((name) => ({
          label: name, backgroundColor: COLORS[name],
          data: hours.map((h) => (data.category_mix_per_hour.find((r) => r.hour === h && r.category === name) || { headlines: 0 }).headlines),
        })),
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "headlines" } } } },
    });

    const buckets = [...Array(10).keys()].map((i) => i / 10);
    draw("confidence-chart", {
      type: "bar",
      data: {
        labels: buckets.map((b) => b.toFixed(1) + "–" + (b + 0.1).toFixed(1)),
        datasets: categories.map((name) => ({
          label: name, backgroundColor: COLORS[name],
          data: buckets.map((b) => data.confidence_distribution
            .filter((r) => Math.abs(r.bucket - b) < 1e-9 && r.category === name).reduce((n, r) => n + r.headlines, 0)),
        })),
      },
      options: { scales: { x: { stacked: true, title: { display: true, text: "confidence" } }, y: { stacked: true, beginAtZero: true } } },
    });

    const note = document.getElementById("drift-note");
    note.textContent = baseline
      ? "Total variation distance between the live mix and the training data's: " + fixed(distance, 3) + " (0: the same mix, 1: nothing in common)."
      : "The served model's metrics.json carries no training mix (data.category_mix): the live mix is shown alone.";
    const driftSets = [{ label: "live", backgroundColor: "#0b5cad", data: categories.map((n) => summary.category_mix[n] || 0) }];
    if (baseline) driftSets.push({ label: "training", backgroundColor: "#9aa4ad", data: categories.map((n) => baseline[n] || 0) });
    draw("drift-chart", { type: "bar", data: { labels: categories, datasets: driftSets },
                          options: { scales: { y: { beginAtZero: true, max: 1, title: { display: true, text: "share" } } } } });

    const models = data.low_confidence_share_per_model_version;
    draw("models-chart", {
      type: "bar",
      data: { labels: models.map((m) => m.model_version),
              datasets: [{ label: "low-confidence share", backgroundColor: "#B35C00", data: models.map((m) => m.low_confidence_share) },
                         { label: "mean confidence", backgroundColor: "#0b5cad", data: models.map((m) => m.mean_confidence) }] },
      options: { scales: { y: { beginAtZero: true, max: 1 } } },
    });
    fillTable("models", models, [["model_version", String], ["headlines", (v) => v.toLocaleString("en"), "number"],
                                 ["mean_confidence", (v) => fixed(v, 3), "number"], ["low_confidence_share", percent, "number"],
                                 ["last_seen", (v) => String(v).slice(0, 19)]]);

    const answerColumns = [["time", (v) => String(v).slice(0, 19)], ["source", String], ["headline", String, "headline"],
                           ["category", String], ["confidence", (v) => fixed(v, 3), "number"]];
    fillTable("latest", data.latest, answerColumns);
    fillTable("uncertain", data.most_uncertain_headlines, answerColumns);
  }

  async function load() {
    const status = document.getElementById("status");
    status.classList.remove("error");
    status.textContent = "Loading…";
    try {
      const response = await fetch("/dashboard/data", { headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error ? body.error.message : "HTTP " + response.status);
      render(body);
      status.textContent = body.summary.records.toLocaleString("en") + " records, updated " + new Date().toISOString().slice(11, 19) + " UTC";
    } catch (error) {
      status.classList.add("error");
      status.textContent = "The results cannot be read: " + error.message;
    }
  }

  document.getElementById("refresh").addEventListener("click", load);
  load();
})();
