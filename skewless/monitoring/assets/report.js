/* Draws the charts of the drift, monitoring and experiment pages from the JSON in
   #skewless-chart-data with Chart.js. */
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

  function signedPercent(value) {
    return (value > 0 ? "+" : "") + (value * 100).toFixed(1) + "%";
  }

  function rates(chart) {
    var canvas = document.getElementById(chart.id);
    if (!canvas) return 0;
    var colours = chart.champion.map(function (c) { return c ? REF : CUR; });
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.arms,
        datasets: [
          { label: "conversion rate", data: chart.rates, borderColor: colours, borderWidth: 1,
            backgroundColor: colours.map(function (c) { return translucent(c, 0.75); }),
            barPercentage: 0.6 },
          { label: "interval", data: chart.intervals, borderColor: colours, borderWidth: 1,
            backgroundColor: colours.map(function (c) { return translucent(c, 0.25); }),
            barPercentage: 0.25 }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { stacked: true, title: { display: true, text: "arm" } },
          y: { stacked: false, beginAtZero: true,
               title: { display: true, text: "conversion rate" }, ticks: { callback: percent } }
        },
        plugins: { tooltip: { callbacks: { label: function (item) {
          if (Array.isArray(item.raw)) {
            return "interval: " + percent(item.raw[0]) + " to " + percent(item.raw[1]);
          }
          return shareLabel(item);
        } } } }
      }
    });
    return 1;
  }

  function lift(chart) {
    var canvas = document.getElementById(chart.id);
    if (!canvas) return 0;
    new Chart(canvas, {
      type: "line",
      data: {
        labels: chart.at,
        datasets: [
          { label: "interval (low)", data: chart.low, borderColor: translucent(CUR, 0.4),
            borderWidth: 1, pointRadius: 0, fill: false, spanGaps: false },
          { label: "interval (high)", data: chart.high, borderColor: translucent(CUR, 0.4),
            backgroundColor: translucent(CUR, 0.18), borderWidth: 1, pointRadius: 0,
            fill: "-1", spanGaps: false },
          { label: "lift of " + chart.arm, data: chart.lift, borderColor: CUR,
            backgroundColor: CUR, borderWidth: 2, pointRadius: 2, tension: 0, spanGaps: false },
          { label: "no difference", data: chart.at.map(function () { return 0; }),
            borderColor: REF, borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, fill: false }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: "rows answered up to" },
               ticks: { autoSkip: true, maxRotation: 45 } },
          y: { title: { display: true, text: "lift over the champion" },
               ticks: { callback: signedPercent } }
        },
        plugins: { tooltip: { callbacks: { label: function (item) {
          return item.dataset.label + ": " + (item.raw === null ? "n/a" : signedPercent(item.raw));
        } } } }
      }
    });
    return 1;
  }

  var drawn = 0;
  spec.distributions.forEach(function (chart) { drawn += distribution(chart); });
  (spec.timelines || []).forEach(function (chart) { drawn += timeline(chart); });
  (spec.performance || []).forEach(function (chart) { drawn += metrics(chart); });
  (spec.rates || []).forEach(function (chart) { drawn += rates(chart); });
  (spec.lifts || []).forEach(function (chart) { drawn += lift(chart); });
  document.documentElement.setAttribute("data-charts-drawn", String(drawn));
})();
