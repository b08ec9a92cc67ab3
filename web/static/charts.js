// Draws the overview chart from the data the server put in its data-series attribute as JSON: no inline JS
// (CSP). The node page's chart is an SVG drawn by the server (_efficiency_chart.html).
(function () {
  "use strict";
  const GREEN = "#1f7a4d", BLUE = "#0b5cad";

  function build(canvas) {
    if (canvas.dataset.chart !== "overview" || !canvas.dataset.series || typeof Chart === "undefined") return;
    const data = JSON.parse(canvas.dataset.series);
    new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          { type: "bar", label: "Energy bound (kWh)", data: data.energy_kwh, backgroundColor: GREEN, yAxisID: "y" },
          { type: "line", label: "Credits earned (ECO = kWh saved)", data: data.credits_eco, borderColor: BLUE,
            backgroundColor: BLUE, yAxisID: "y1", pointRadius: 2 },
        ],
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {
          // Labels are the epochs' start times (month-day hour:minute, UTC); an epoch number where unknown.
          x: { title: { display: true, text: "epoch start (UTC)" } },
          y: { position: "left", beginAtZero: true, title: { display: true, text: "kWh" } },
          y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                title: { display: true, text: "ECO" } },
        },
      },
    });
  }

  function init() { document.querySelectorAll("canvas[data-chart]").forEach(build); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
