/* 数据中心 charts: Chart.js (loaded by unfold) with axes in units, a legend, and tooltips that show the
   date and the formatted value. The canvas carries its data as data-datacenter-chart (not data-value,
   so unfold's own renderer leaves it alone). */
(function () {
  "use strict";
  const english = (document.documentElement.lang || "").startsWith("en");
  const money = new Intl.NumberFormat(english ? "en-US" : "zh-CN", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const whole = new Intl.NumberFormat(english ? "en-US" : "zh-CN", { maximumFractionDigits: 0 });
  const short = new Intl.NumberFormat(english ? "en-US" : "zh-CN", { notation: "compact", maximumFractionDigits: 1 });

  function format(value, unit, compact) {
    if (value === null || value === undefined || Number.isNaN(value)) return "-";
    if (unit === "money") return "¥" + (compact ? short.format(value) : money.format(value));
    if (unit === "ratio") return (value * 100).toFixed(compact ? 1 : 2) + "%";
    if (unit === "count") return compact ? short.format(value) : whole.format(value);
    return compact ? short.format(value) : money.format(value);
  }

  function colour(value) {
    if (value && value.startsWith("var(")) {
      const name = value.match(/var\((.*?)\)/)[1];
      return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#9333ea";
    }
    return value;
  }

  function render(canvas) {
    const data = JSON.parse(canvas.dataset.datacenterChart);
    const units = {};
    for (const dataset of data.datasets) {
      dataset.borderColor = colour(dataset.borderColor);
      dataset.backgroundColor = colour(dataset.backgroundColor);
      dataset.pointRadius = data.labels.length > 60 ? 0 : 2;
      dataset.pointHoverRadius = 5;
      dataset.borderWidth = 2;
      dataset.tension = 0.2;
      units[dataset.yAxisID] = dataset.unit;
    }
    const scales = {
      x: { ticks: { color: "#9ca3af", maxTicksLimit: 12, autoSkip: true }, grid: { display: false } },
    };
    for (const axis of data.axes) {
      scales[axis.id] = {
        position: axis.id === "y" ? "left" : "right",
        beginAtZero: true,
        title: { display: !!axis.title, text: axis.title, color: "#6b7280" },
        ticks: { color: "#9ca3af", callback: (value) => format(value, axis.unit, true) },
        grid: { display: axis.id === "y", color: "rgba(156,163,175,0.2)" },
      };
    }
    return new Chart(canvas.getContext("2d"), {
      type: "line",
      data: { labels: data.labels, datasets: data.datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { display: true, position: "top", align: "end", labels: { usePointStyle: true, boxWidth: 6, boxHeight: 6 } },
          tooltip: {
            callbacks: {
              title: (items) => (items.length ? items[0].label : ""),
              label: (item) => `${item.dataset.label}${english ? ": " : "："}${format(item.parsed.y, item.dataset.unit, false)}`,
            },
          },
        },
      },
    });
  }

  function start() {
    if (typeof Chart === "undefined") return;
    for (const canvas of document.querySelectorAll("canvas[data-datacenter-chart]")) {
      if (!Chart.getChart(canvas)) render(canvas);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  window.shopopsDatacenterCharts = { format: format, start: start };
})();
