// Draws the charts whose data the server put in data-series attributes as JSON: no inline JS (CSP).
(function () {
  "use strict";
  const GREEN = "#1f7a4d", BLUE = "#0b5cad", GREY = "#8a9a8f";

  function build(canvas) {
    if (!canvas.dataset.series || typeof Chart === "undefined") return;
    const data = JSON.parse(canvas.dataset.series);
    const kind = canvas.dataset.chart;
    const datasets = kind === "overview"
      ? [
          { type: "bar", label: "Energy bound (kWh)", data: data.energy_kwh, backgroundColor: GREEN, yAxisID: "y" },
          { type: "line", label: "Credits earned (ECO = kWh saved)", data: data.credits_eco, borderColor: BLUE,
            backgroundColor: BLUE, yAxisID: "y1", pointRadius: 2 },
        ]
      : [
          { type: "bar", label: "Energy bound (kWh)", data: data.energy_kwh, backgroundColor: GREEN, yAxisID: "y" },
          { type: "line", label: "Carbon bound (g CO₂)", data: data.carbon_g, borderColor: GREY,
            backgroundColor: GREY, yAxisID: "y1", pointRadius: 2 },
        ];
    new Chart(canvas, {
      data: { labels: data.labels, datasets: datasets },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: "epoch" } },
          y: { position: "left", beginAtZero: true, title: { display: true, text: "kWh" } },
          y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
                title: { display: true, text: kind === "overview" ? "ECO" : "g CO₂" } },
        },
      },
    });
  }

  function init() { document.querySelectorAll("canvas[data-chart]").forEach(build); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
