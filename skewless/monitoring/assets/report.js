/* Draws the drift report's charts from the JSON in #skewless-chart-data with Chart.js. */
(function () {
  "use strict";
  var spec = JSON.parse(document.getElementById("skewless-chart-data").textContent);
  var REF = "#4c78a8";
  var CUR = "#e45756";
  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = "#3b4148";

  function percent(value) {
    return (value * 100).toFixed(value >= 0.1 || value === 0 ? 0 : 1) + "%";
  }

  function shareLabel(item) {
    return item.dataset.label + ": " + (item.raw === null ? "n/a" : percent(item.raw));
  }

  function translucent(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function bars(label, data, colour, histogram) {
    return {
      label: label,
      data: data,
      backgroundColor: translucent(colour, histogram ? 0.45 : 0.75),
      borderColor: colour,
      borderWidth: histogram ? 1.5 : 1,
      grouped: !histogram,
      categoryPercentage: histogram ? 1.0 : 0.8,
      barPercentage: histogram ? 1.0 : 0.9
    };
  }

  function distribution(chart) {
    var canvas = document.getElementById(chart.id);
    if (!canvas) return 0;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: [
          bars("reference", chart.reference, REF, chart.histogram),
          bars("current", chart.current, CUR, chart.histogram)
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: chart.histogram ? "value (bin)" : "category" },
               ticks: { autoSkip: true, maxRotation: 45 } },
          y: { beginAtZero: true, title: { display: true, text: "share of rows" },
               ticks: { callback: percent } }
        },
        plugins: { tooltip: { callbacks: { label: shareLabel } } }
      }
    });
    return 1;
  }

  function timeline(chart) {
    var canvas = document.getElementById(chart.id);
    if (!canvas) return 0;
    var threshold = chart.days.map(function () { return chart.drift_share; });
    new Chart(canvas, {
      type: "line",
      data: {
        labels: chart.days,
        datasets: [
          { label: "share of columns drifted", data: chart.share_drifted, borderColor: CUR,
            backgroundColor: translucent(CUR, 0.2), fill: true, pointRadius: 3, tension: 0 },
          { label: "dataset drift at", data: threshold, borderColor: "#5f6670",
            borderDash: [6, 4], pointRadius: 0, fill: false }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: "day" } },
          y: { min: 0, max: 1, title: { display: true, text: "share of columns drifted" },
               ticks: { callback: percent } }
        },
        plugins: { tooltip: { callbacks: { label: shareLabel } } }
      }
    });
    return 1;
  }

  function metrics(chart) {
    var canvas = document.getElementById(chart.id);
    if (!canvas) return 0;
    var datasets = [
      { label: chart.metric + " per window", data: chart.values, borderColor: CUR,
        backgroundColor: translucent(CUR, 0.2), pointRadius: 3, tension: 0, spanGaps: false }
    ];
    if (chart.baseline !== null) {
      datasets.push({ label: chart.metric + " at the gate",
                      data: chart.windows.map(function () { return chart.baseline; }),
                      borderColor: REF, borderDash: [6, 4], pointRadius: 0, fill: false });
    }
    new Chart(canvas, {
      type: "line",
      data: { labels: chart.windows, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: "window" } },
          y: { title: { display: true, text: chart.metric } }
        }
      }
    });
    return 1;
  }

  var drawn = 0;
  spec.distributions.forEach(function (chart) { drawn += distribution(chart); });
  (spec.timelines || []).forEach(function (chart) { drawn += timeline(chart); });
  (spec.performance || []).forEach(function (chart) { drawn += metrics(chart); });
  document.documentElement.setAttribute("data-charts-drawn", String(drawn));
})();
