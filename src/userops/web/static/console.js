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

/* --- membership: the economy dashboard's charts ------------------------------------------
 * Drawn from <script type="application/json" id="membership-economy-data"> (numbers) and
 * id="membership-economy-labels" (series names in the page's language) into [data-mchart]
 * nodes; kept in window.useropsCharts as "membership-<chart>". */
(function () {
  "use strict";
  var COLORS = { issued: "#1f6feb", redeemed: "#2e9d5b", expired: "#d97706", reversed: "#dc2626",
                 outstanding: "#9333ea", pending: "#94a3b8", users: "#1f6feb" };
  window.useropsCharts = window.useropsCharts || {};

  function number(v) {
    return Number(v).toLocaleString(document.documentElement.lang || undefined, { maximumFractionDigits: 0 });
  }

  function axes(categories, everyLabel) {
    return {
      xAxis: { type: "category", data: categories, axisTick: { show: false },
               axisLabel: { color: "#66727f", fontSize: 11, interval: everyLabel ? 0 : "auto" },
               axisLine: { lineStyle: { color: "#e1e6ec" } } },
      yAxis: { type: "value", splitNumber: 4, splitLine: { lineStyle: { color: "#eef1f4" } },
               axisLabel: { color: "#66727f", fontSize: 11, formatter: number } }
    };
  }

  function base(categories, series, legend) {
    var option = axes(categories, !legend);
    option.animation = false;
    option.grid = { left: 56, right: 12, top: legend ? 30 : 10, bottom: 24 };
    option.tooltip = { trigger: "axis", valueFormatter: number };
    if (legend) { option.legend = { top: 0, textStyle: { color: "#66727f", fontSize: 11 } }; }
    option.series = series;
    return option;
  }

  function options(kind, data, labels) {
    if (kind === "flows") {
      return base(data.months, ["issued", "redeemed", "expired", "reversed"].map(function (flow) {
        return { name: labels[flow], type: "bar", data: data.flows[flow], color: COLORS[flow], barMaxWidth: 18 };
      }), true);
    }
    if (kind === "liability") {
      return base(data.months, [
        { name: labels.outstanding, type: "line", data: data.outstanding, color: COLORS.outstanding,
          areaStyle: { opacity: 0.08 }, showSymbol: true },
        { name: labels.pending, type: "line", data: data.pending, color: COLORS.pending, showSymbol: true }
      ], true);
    }
    var part = kind === "growth" ? data.growth : data.levels;
    if (!part) { return null; }
    return base(part.labels, [{ name: labels.users, type: "bar", data: part.users, color: COLORS.users, barMaxWidth: 36 }], false);
  }

  function drawMembershipCharts() {
    var source = document.getElementById("membership-economy-data");
    var names = document.getElementById("membership-economy-labels");
    if (!source || !names || typeof window.echarts === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var labels = JSON.parse(names.textContent);
    var nodes = document.querySelectorAll("[data-mchart]");
    var drawn = 0;
    Array.prototype.forEach.call(nodes, function (node) {
      var kind = node.getAttribute("data-mchart");
      var option = options(kind, data, labels);
      if (!option) { return; }
      var chart = window.echarts.getInstanceByDom(node) || window.echarts.init(node, null, { renderer: "canvas" });
      chart.setOption(option);
      window.useropsCharts["membership-" + kind] = chart;
      drawn += 1;
    });
    document.documentElement.setAttribute("data-membership-charts", String(drawn));
  }

  document.addEventListener("DOMContentLoaded", drawMembershipCharts);
})();

/* ==== Analytics pages (/analytics/...) ================================================== *
 * Charts from the JSON spec in each chart's data-analytics-chart attribute (kinds in
 * web/analytics/charts.py; an attribute because htmx drops <script> elements from swapped
 * content), drawn again after htmx swaps the results; the funnel step builder, the filters.
 * No inline code and no eval: the CSP allows neither. */
(function () {
  "use strict";
  var COLORS = ["#1f6feb", "#2e9d5b", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#be185d",
    "#4d7c0f", "#7c3aed", "#64748b", "#ea580c", "#0f766e"];
  var MUTED = "#b6c2d1";
  var PREFIX = "analytics:";
  window.useropsCharts = window.useropsCharts || {};

  function lang() { return document.documentElement.lang || undefined; }

  function fmt(value, format, abs) {
    if (value === null || value === undefined || typeof value !== "number") { return "-"; }
    var v = abs ? Math.abs(value) : value;
    if (format === "pct") { return (v * 100).toFixed(1) + "%"; }
    if (format === "money") {
      return v.toLocaleString(lang(), { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    if (format === "dec") { return v.toLocaleString(lang(), { maximumFractionDigits: 1 }); }
    return v.toLocaleString(lang(), { maximumFractionDigits: 0 });
  }

  function axisFormatter(format, abs) {
    return function (v) {
      if (format === "pct") { return Math.round((abs ? Math.abs(v) : v) * 100) + "%"; }
      return fmt(v, "int", abs);
    };
  }

  function valueAxis(format, abs) {
    return {
      type: "value", splitNumber: 4,
      axisLabel: { color: "#66727f", fontSize: 11, formatter: axisFormatter(format, abs) },
      splitLine: { lineStyle: { color: "#eef1f4" } }
    };
  }

  function categoryAxis(spec) {
    return {
      type: "category", data: spec.x, boundaryGap: spec.kind !== "line",
      axisLabel: { color: "#66727f", fontSize: 11 }, axisTick: { show: false },
      axisLine: { lineStyle: { color: "#e1e6ec" } }
    };
  }

  function seriesOption(spec, s) {
    var type = s.type || (spec.kind === "line" ? "line" : "bar");
    var format = s.axis === 1 ? spec.format2 : spec.format;
    var out = {
      name: s.name, type: type, data: s.data, yAxisIndex: s.axis || 0,
      tooltip: { valueFormatter: function (v) { return fmt(v, format, spec.abs); } }
    };
    if (s.stack) { out.stack = s.stack; }
    if (s.color) { out.itemStyle = { color: s.color }; out.lineStyle = { color: s.color }; }
    if (type === "line") {
      out.showSymbol = spec.x.length <= 16;
      out.connectNulls = false;
      out.lineStyle = Object.assign({ width: 1.8 }, out.lineStyle || {});
    } else {
      out.barMaxWidth = 48;
    }
    if (spec.kind === "steps") {
      var labels = s.labels || [];
      out.barMaxWidth = 72;
      out.label = {
        show: true, position: "top", color: "#1f2933",
        formatter: function (p) { return labels[p.dataIndex] || ""; }
      };
    }
    if (spec.kind === "hbar") {
      out.yAxisIndex = 0;
      out.data = s.data.map(function (v, i) {
        return { value: v, itemStyle: { color: i === spec.highlight ? COLORS[0] : MUTED } };
      });
      out.label = {
        show: true, position: "right", color: "#1f2933",
        formatter: function (p) { return fmt(p.value, format, false); }
      };
    }
    return out;
  }

  function option(spec) {
    var twoAxes = spec.series.some(function (s) { return s.axis === 1; });
    var opt = {
      animation: false,
      color: COLORS,
      grid: { left: 12, right: spec.kind === "line" ? 32 : 16, top: spec.series.length > 1 ? 40 : 24,
        bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: spec.kind === "line" ? "line" : "shadow" } },
      legend: { show: spec.series.length > 1, top: 0, type: "scroll" },
      series: spec.series.map(function (s) { return seriesOption(spec, s); })
    };
    if (spec.kind === "hbar") {
      opt.xAxis = valueAxis(spec.format, false);
      opt.yAxis = Object.assign(categoryAxis(spec), { inverse: true });
      opt.grid.right = 64;
    } else {
      opt.xAxis = categoryAxis(spec);
      opt.yAxis = twoAxes
        ? [valueAxis(spec.format, spec.abs), valueAxis(spec.format2, false)]
        : valueAxis(spec.format, spec.abs);
    }
    if (spec.format === "pct" && !twoAxes) {  // shares up to 100%, never a 120% axis
      var top = Math.max.apply(null, spec.series.map(function (s) {
        return Math.max.apply(null, s.data.filter(function (v) { return typeof v === "number"; }).concat([0]));
      }));
      if (top > 0.5 && top <= 1) { (spec.kind === "hbar" ? opt.xAxis : opt.yAxis).max = 1; }
    }
    return opt;
  }

  function dispose(root) {
    if (typeof window.echarts === "undefined" || !root || !root.querySelectorAll) { return; }
    Array.prototype.forEach.call(root.querySelectorAll("[data-analytics-chart]"), function (node) {
      var chart = window.echarts.getInstanceByDom(node);
      if (chart) { chart.dispose(); }
      delete window.useropsCharts[PREFIX + node.id];
    });
  }

  function draw() {
    if (typeof window.echarts === "undefined") { return; }
    var nodes = document.querySelectorAll("[data-analytics-chart]");
    Array.prototype.forEach.call(nodes, function (node) {
      var spec = JSON.parse(node.getAttribute("data-analytics-chart"));
      if (spec.kind === "hbar") { node.style.height = Math.max(160, 34 * spec.x.length + 40) + "px"; }
      var chart = window.echarts.getInstanceByDom(node) ||
        window.echarts.init(node, null, { renderer: "canvas" });
      chart.setOption(option(spec), true);
      window.useropsCharts[PREFIX + node.id] = chart;
    });
    document.documentElement.setAttribute("data-analytics-charts", String(nodes.length));
  }

  // the funnel builder's rows and the filter boxes
  function updateAdd(list) {
    var add = document.querySelector("[data-step-add]");
    var max = parseInt(list.getAttribute("data-max") || "20", 10);
    if (add) { add.disabled = list.querySelectorAll(".step-row").length >= max; }
  }

  function clear(row) {
    var select = row.querySelector("select");
    var input = row.querySelector("input");
    if (select) { select.value = ""; }
    if (input) { input.value = ""; }
  }

  document.addEventListener("click", function (event) {
    var target = event.target && event.target.closest &&
      event.target.closest("[data-step-add], [data-step-remove], [data-where-add]");
    if (!target) { return; }
    if (target.hasAttribute("data-where-add")) {
      var boxes = document.getElementById("where-list");
      var inputs = boxes.querySelectorAll("input");
      var box = inputs[inputs.length - 1].cloneNode(false);
      box.value = "";
      boxes.appendChild(box);
      box.focus();
      return;
    }
    var list = document.getElementById("step-list");
    if (!list) { return; }
    var rows = list.querySelectorAll(".step-row");
    if (target.hasAttribute("data-step-add")) {
      if (rows.length >= parseInt(list.getAttribute("data-max") || "20", 10)) { return; }
      var row = rows[rows.length - 1].cloneNode(true);
      clear(row);
      list.appendChild(row);
      row.querySelector("select").focus();
    } else {
      var mine = target.closest(".step-row");
      if (rows.length <= 2) { clear(mine); } else { mine.parentNode.removeChild(mine); }
    }
    updateAdd(list);
  });

  document.addEventListener("htmx:beforeSwap", function (event) { dispose(event.detail.target); });
  document.addEventListener("htmx:afterSettle", draw);
  document.addEventListener("DOMContentLoaded", function () {
    var list = document.getElementById("step-list");
    if (list) { updateAdd(list); }
    draw();
  });
})();

/* ==== profiles (/profiles/...) ============================================================ *
 * Charts from the spec in each chart's data-profiles-chart attribute (web/profiles: kinds
 * bar, shares, pyramid, sankey; an attribute because htmx drops <script> from swapped content),
 * drawn on load and again after htmx swaps a preview in; kept in window.useropsCharts as
 * "profiles:<id>", and the count drawn in <html data-profiles-charts>. No inline code, no eval. */
(function () {
  "use strict";
  var COLORS = ["#1f6feb", "#2e9d5b", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#be185d", "#64748b"];
  var PREFIX = "profiles:";
  window.useropsCharts = window.useropsCharts || {};

  function lang() { return document.documentElement.lang || undefined; }
  function count(v) { return typeof v === "number" ? v.toLocaleString(lang(), { maximumFractionDigits: 0 }) : "-"; }
  function pct(v) { return typeof v === "number" ? (v * 100).toFixed(1) + "%" : "-"; }

  function axes(spec, format) {
    return {
      xAxis: { type: "category", data: spec.x, axisTick: { show: false },
               axisLabel: { color: "#66727f", fontSize: 11, interval: 0, hideOverlap: true },
               axisLine: { lineStyle: { color: "#e1e6ec" } } },
      yAxis: { type: "value", splitNumber: 4, splitLine: { lineStyle: { color: "#eef1f4" } },
               axisLabel: { color: "#66727f", fontSize: 11, formatter: format } }
    };
  }

  function bar(spec) {
    var opt = axes(spec, count);
    var colors = spec.colors || [];
    opt.grid = { left: 12, right: 16, top: 24, bottom: 8, containLabel: true };
    opt.tooltip = { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: count };
    opt.series = spec.series.map(function (s) {
      return {
        name: s.name, type: "bar", barMaxWidth: 56,
        data: s.data.map(function (v, i) {
          return colors.length ? { value: v, itemStyle: { color: colors[i % colors.length] } } : v;
        }),
        label: { show: true, position: "top", color: "#1f2933", formatter: function (p) { return count(p.value); } }
      };
    });
    if (!colors.length) { opt.color = COLORS; }
    return opt;
  }

  function shares(spec) {
    var opt = axes(spec, function (v) { return Math.round(v * 100) + "%"; });
    opt.color = ["#1f6feb", "#d97706"];
    opt.grid = { left: 12, right: 16, top: 36, bottom: 8, containLabel: true };
    opt.legend = { top: 0 };
    opt.tooltip = { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: pct };
    opt.series = spec.series.map(function (s) {
      return { name: s.name, type: "bar", barMaxWidth: 28, data: s.data };
    });
    return opt;
  }

  function pyramid(spec) {
    // the shape is the grades' order (S narrowest at the top), the labels carry the counts
    var users = spec.series[0].data;
    var n = spec.x.length;
    var colors = spec.colors || COLORS;
    return {
      tooltip: { trigger: "item", formatter: function (p) {
        return p.name + ": " + count(users[p.dataIndex]) + " (" + pct(spec.shares[p.dataIndex]) + ")";
      } },
      series: [{
        type: "funnel", sort: "ascending", left: "15%", width: "70%", top: 8, bottom: 8, gap: 2,
        minSize: "12%", maxSize: "100%",
        label: { show: true, position: "inside", color: "#fff", fontWeight: 600, formatter: function (p) {
          return p.name + "  " + count(users[p.dataIndex]) + " · " + pct(spec.shares[p.dataIndex]);
        } },
        data: spec.x.map(function (name, i) {
          return { name: name, value: i + 1, itemStyle: { color: colors[i % colors.length] } };
        }).slice(0, n)
      }]
    };
  }

  function sankey(spec) {
    return {
      tooltip: { trigger: "item", valueFormatter: count },
      color: COLORS,
      series: [{
        type: "sankey", left: 8, right: 140, top: 8, bottom: 8, nodeGap: 10, draggable: false,
        emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", opacity: 0.35 },
        label: { color: "#1f2933", fontSize: 11 },
        data: spec.nodes, links: spec.links
      }]
    };
  }

  var BUILD = { bar: bar, shares: shares, pyramid: pyramid, sankey: sankey };

  function dispose(root) {
    if (typeof window.echarts === "undefined" || !root || !root.querySelectorAll) { return; }
    Array.prototype.forEach.call(root.querySelectorAll("[data-profiles-chart]"), function (node) {
      var chart = window.echarts.getInstanceByDom(node);
      if (chart) { chart.dispose(); }
      delete window.useropsCharts[PREFIX + node.id];
    });
  }

  function draw() {
    if (typeof window.echarts === "undefined") { return; }
    var nodes = document.querySelectorAll("[data-profiles-chart]");
    var drawn = 0;
    Array.prototype.forEach.call(nodes, function (node) {
      var spec = JSON.parse(node.getAttribute("data-profiles-chart"));
      var build = BUILD[spec.kind];
      if (!build) { return; }
      var option = build(spec);
      option.animation = false;
      var chart = window.echarts.getInstanceByDom(node) ||
        window.echarts.init(node, null, { renderer: "canvas" });
      chart.setOption(option, true);
      window.useropsCharts[PREFIX + node.id] = chart;
      drawn += 1;
    });
    document.documentElement.setAttribute("data-profiles-charts", String(drawn));
  }

  // the builder's live count names the row of a bad rule: mark that row (and only that one)
  function markRow() {
    var preview = document.getElementById("segment-preview");
    if (!preview) { return; }
    var path = preview.getAttribute("data-error-path") || "";
    Array.prototype.forEach.call(document.querySelectorAll("#rule-builder [data-path]"), function (node) {
      node.classList.toggle("has-error", path !== "" && node.getAttribute("data-path") === path);
    });
  }

  // a [data-rebuild] select asks for the whole builder (with the count): its change and input
  // events stop at it, so the form does not also ask for the count of the same state; so do
  // those of a [data-quiet] part (the segment's name and code change no count)
  function stop(event) { event.stopPropagation(); }
  function holdRebuilds() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-rebuild], [data-quiet]"), function (node) {
      if (node.useropsHeld) { return; }
      node.addEventListener("change", stop);
      node.addEventListener("input", stop);
      node.useropsHeld = true;
    });
  }

  document.addEventListener("htmx:beforeSwap", function (event) { dispose(event.detail.target); });
  document.addEventListener("htmx:afterSettle", function () { draw(); markRow(); holdRebuilds(); });
  document.addEventListener("DOMContentLoaded", function () { draw(); holdRebuilds(); });
})();
