// huiliu console: the overview's live figures and charts. Reads /api/overview with the session cookie.
(function () {
  "use strict";
  var root = document.getElementById("overview");
  if (!root) return;
  var zh = root.dataset.lang === "zh";
  function tr(a, b) { return zh ? a : b; }
  var STATUS = { running: tr("运行中", "running"), waiting: tr("等待中", "waiting"), succeeded: tr("成功", "succeeded"),
    failed: tr("失败", "failed"), compensating: tr("冲回中", "compensating"), compensated: tr("已冲回", "compensated") };
  var COLORS = { succeeded: "#1e8e3e", failed: "#c5221f", started: "#0b6e99", approvals: "#0b6e99",
    documents: "#34a853", running: "#1a56b8", waiting: "#6b4fbb", compensating: "#b06000", compensated: "#e8a33d" };
  var charts = {};

  function ms(v) {
    if (v === null || v === undefined) return "—";
    return v >= 1000 ? (v / 1000).toFixed(1) + " s" : Math.round(v) + " ms";
  }
  function put(key, text) {
    var nodes = root.parentNode.querySelectorAll('[data-key="' + key + '"]');
    for (var i = 0; i < nodes.length; i++) nodes[i].textContent = text;
  }
  function local(iso) { return iso.slice(0, 19).replace("T", " "); }  // already in the hub's zone
  function hourOf(iso) { return iso.slice(11, 16); }

  function tiles(o) {
    put("approvals_today", o.approvals_today);
    put("documents_today", o.documents_today);
    put("documents_total", o.documents_total);
    put("latency_p50", ms(o.latency_ms.p50));
    put("latency_p95", ms(o.latency_ms.p95));
    put("success_rate", o.success_rate === null ? "—" : (o.success_rate * 100).toFixed(1) + "%");
    put("backlog_messages", o.backlog.messages);
    put("backlog_running", o.backlog.running);
    put("backlog_waiting", o.backlog.waiting);
    put("dead_letters_open", o.backlog.dead_letters_open);
    put("as_of", local(o.as_of));
  }

  function chart(id) {
    if (!charts[id]) {
      var el = document.getElementById(id);
      charts[id] = window.echarts.init(el, null, { renderer: "canvas" });
      window.addEventListener("resize", function () { charts[id].resize(); });
    }
    return charts[id];
  }
  var base = { animation: false, grid: { left: 48, right: 16, top: 36, bottom: 32 }, tooltip: { trigger: "axis" },
    legend: { top: 4 }, textStyle: { fontFamily: getComputedStyle(document.body).fontFamily } };

  function draw(o) {
    var hours = o.throughput.map(function (b) { return hourOf(b.hour); });
    chart("chart-throughput").setOption(Object.assign({}, base, {
      xAxis: { type: "category", data: hours }, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: tr("成功", "succeeded"), type: "bar", stack: "end", color: COLORS.succeeded, data: o.throughput.map(function (b) { return b.succeeded; }) },
        { name: tr("失败", "failed"), type: "bar", stack: "end", color: COLORS.failed, data: o.throughput.map(function (b) { return b.failed; }) },
        { name: tr("开始", "started"), type: "line", color: COLORS.started, data: o.throughput.map(function (b) { return b.started; }) }
      ] }));
    chart("chart-daily").setOption(Object.assign({}, base, {
      xAxis: { type: "category", data: o.daily.map(function (d) { return d.day.slice(5); }) }, yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: tr("审批", "approvals"), type: "bar", color: COLORS.approvals, data: o.daily.map(function (d) { return d.approvals; }) },
        { name: tr("生成单据", "documents"), type: "bar", color: COLORS.documents, data: o.daily.map(function (d) { return d.documents; }) },
        { name: tr("失败", "failed"), type: "line", color: COLORS.failed, data: o.daily.map(function (d) { return d.failed; }) }
      ] }));
    var errors = o.errors_by_system.slice().reverse();
    chart("chart-errors").setOption(Object.assign({}, base, {
      grid: { left: 90, right: 24, top: 16, bottom: 24 }, legend: { show: false }, tooltip: { trigger: "item" },
      xAxis: { type: "value", minInterval: 1 }, yAxis: { type: "category", data: errors.map(function (e) { return e.system; }) },
      series: [{ type: "bar", barMaxWidth: 28, color: COLORS.failed, data: errors.map(function (e) { return e.count; }),
        label: { show: true, position: "right" } }],
      graphic: errors.length ? [] : [{ type: "text", left: "center", top: "middle",
        style: { text: tr("近 24 小时没有错误", "no errors in the last 24 hours"), fill: "#6b7785", fontSize: 14 } }] }), true);
    var statuses = Object.keys(o.runs_today);
    chart("chart-status").setOption(Object.assign({}, base, {
      tooltip: { trigger: "item" }, legend: { bottom: 0 },
      series: [{ type: "pie", radius: ["40%", "68%"], label: { formatter: "{b}: {c}" },
        data: statuses.map(function (s) { return { name: STATUS[s] || s, value: o.runs_today[s], itemStyle: { color: COLORS[s] } }; }) }],
      graphic: statuses.length ? [] : [{ type: "text", left: "center", top: "middle",
        style: { text: tr("今日还没有运行", "no runs today yet"), fill: "#6b7785", fontSize: 14 } }] }), true);
  }

  function show(o) {
    tiles(o);
    if (window.echarts) draw(o); else document.getElementById("no-charts").hidden = false;
  }
  function refresh() {
    fetch("/api/overview", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (o) { if (o) { show(o); root.dataset.updated = String(Date.now()); } })
      .catch(function () { /* the next tick tries again */ });
  }
  show(JSON.parse(document.getElementById("overview-data").textContent));
  setInterval(refresh, 5000);
})();
