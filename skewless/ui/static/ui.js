/* Draws the bar charts of the skewless web UI from the JSON in #ui-chart-data with Chart.js. */
(function () {
  "use strict";
  var holder = document.getElementById("ui-chart-data");
  if (!holder || typeof Chart === "undefined") return;
  var charts = JSON.parse(holder.textContent);
  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = "#3b4148";
  charts.forEach(function (chart) {
    var canvas = document.getElementById(chart.id);
    if (!canvas) return;
    var histogram = chart.what === "histogram";
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: [{
          label: "rows",
          data: chart.values,
          backgroundColor: "rgba(76,120,168,0.55)",
          borderColor: "#4c78a8",
          borderWidth: 1,
          categoryPercentage: histogram ? 1.0 : 0.8,
          barPercentage: histogram ? 1.0 : 0.9
        }]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: {
          x: { title: { display: true, text: chart.axis }, ticks: { autoSkip: true, maxRotation: 45 } },
          y: { beginAtZero: true, title: { display: true, text: "rows" } }
        }
      }
    });
    canvas.setAttribute("data-drawn", "true");
  });
})();
