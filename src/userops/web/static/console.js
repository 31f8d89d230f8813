/* userops console: draws the overview's trend charts from the JSON embedded in the page
 * (<script type="application/json" id="overview-data">) with the vendored ECharts.
 * Charts are kept in window.useropsCharts by metric, for resizing (and for the browser tests). */
(function () {
  "use strict";
  var PALETTE = ["#1f6feb", "#2e9d5b", "#d97706", "#9333ea", "#dc2626"];
  window.useropsCharts = window.useropsCharts || {};

  function shortDate(iso) { return iso.slice(5); }

  function formatValue(value, percent) {
    if (value === null || value === undefined) { return "-"; }
    if (percent) { return (value * 100).toFixed(1) + "%"; }
    return Number(value).toLocaleString(document.documentElement.lang || undefined,
      { maximumFractionDigits: 2 });
  }

  function option(data, key, label, color) {
    var percent = data.percent.indexOf(key) >= 0;
    return {
      animation: false,
      color: [color],
      grid: { left: 48, right: 12, top: 10, bottom: 24 },
      tooltip: {
        trigger: "axis",
        valueFormatter: function (v) { return formatValue(v, percent); }
      },
      xAxis: {
        type: "category", boundaryGap: false, data: data.dates.map(shortDate),
        axisLabel: { color: "#66727f", fontSize: 11 }, axisLine: { lineStyle: { color: "#e1e6ec" } },
        axisTick: { show: false }
      },
      yAxis: {
        type: "value", splitNumber: 3,
        axisLabel: {
          color: "#66727f", fontSize: 11,
          formatter: function (v) { return percent ? Math.round(v * 100) + "%" : formatValue(v, false); }
        },
        splitLine: { lineStyle: { color: "#eef1f4" } }
      },
      series: [{
        name: label, type: "line", showSymbol: false, connectNulls: false,
        data: data.series[key], lineStyle: { width: 1.8 }, areaStyle: { opacity: 0.08 }
      }]
    };
  }

  function drawCharts(root) {
    var source = document.getElementById("overview-data");
    if (!source || typeof window.echarts === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var nodes = (root || document).querySelectorAll("[data-chart]");
    Array.prototype.forEach.call(nodes, function (node, index) {
      var key = node.getAttribute("data-chart");
      var chart = window.echarts.getInstanceByDom(node) || window.echarts.init(node, null, { renderer: "canvas" });
      chart.setOption(option(data, key, node.getAttribute("data-label"), PALETTE[index % PALETTE.length]));
      window.useropsCharts[key] = chart;
    });
    document.documentElement.setAttribute("data-charts-ready", String(nodes.length));
  }

  // <form data-confirm="question">: ask before sending (no inline handlers: the CSP forbids them)
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  }, true);

  window.addEventListener("resize", function () {
    Object.keys(window.useropsCharts).forEach(function (key) { window.useropsCharts[key].resize(); });
  });
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (event) { drawCharts(event.target); });
})();
