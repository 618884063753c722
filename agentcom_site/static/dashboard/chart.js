/* AgentCom dashboard: small time-series charts drawn as SVG, no library.
 *
 * AgentComChart.draw(element, {points, series, unit, scale, title, tick}) draws a chart
 * with a time axis (UTC, with seconds, or `tick(t)` for each label: days, say), a value axis with its unit, grid lines and a legend.
 * Each series is {key, label, kind: "bar" | "line", css}; a point is {t, [key]: value}
 * and a missing value (null) leaves a gap in a line. Every label is set as text.
 */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const W = 640, H = 230, LEFT = 48, RIGHT = 12, TOP = 12, BOTTOM = 34;

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A round top for the value axis and a step giving about four ticks.
  function niceScale(max) {
    if (!(max > 0)) return { top: 1, step: 0.25 };
    const rough = max / 4;
    const magnitude = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough);
    return { top: Math.ceil(max / step) * step, step };
  }

  function draw(box, spec) {
    const points = spec.points || [];
    const series = spec.series;
    const scale = spec.scale || 1;
    const fmt = spec.format || ((v) => String(Math.round(v * 100) / 100));
    const tick = spec.tick || window.AgentComLive.clock;
    const moment = spec.tick || ((t) => `${window.AgentComLive.time(t)} UTC`);
    const values = points.flatMap((p) => series.map((s) => p[s.key]).filter((v) => v !== null && v !== undefined));
    const { top, step } = niceScale(Math.max(0, ...values) / scale);
    const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    const n = Math.max(1, points.length);
    const slot = plotW / n;
    const x = (i) => LEFT + (i + 0.5) * slot;
    const y = (v) => TOP + plotH - (v / scale / top) * plotH;

    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": spec.title || "" });
    // Value axis: grid lines, tick labels and the unit.
    for (let v = 0; v <= top + step / 2; v += step) {
      const at = TOP + plotH - (v / top) * plotH;
      svg.append(el("line", { class: v === 0 ? "axis" : "grid", x1: LEFT, x2: W - RIGHT, y1: at, y2: at }));
      svg.append(el("text", { class: "tick y-tick", x: LEFT - 6, y: at + 3, "text-anchor": "end" }, fmt(v)));
    }
    svg.append(el("line", { class: "axis", x1: LEFT, x2: LEFT, y1: TOP, y2: TOP + plotH }));
    svg.append(el("text", { class: "unit", x: 12, y: TOP + plotH / 2, transform: `rotate(-90 12 ${TOP + plotH / 2})`, "text-anchor": "middle" }, spec.unit));
    // Time axis: about six labelled ticks, UTC with seconds like every time on the pages.
    const every = Math.max(1, Math.ceil(n / 6));
    points.forEach((p, i) => {
      if (i % every !== 0 && i !== n - 1) return;
      const at = LEFT + i * slot;
      svg.append(el("line", { class: "axis", x1: at, x2: at, y1: TOP + plotH, y2: TOP + plotH + 4 }));
      if (i % every === 0) svg.append(el("text", { class: "tick x-tick", x: at, y: TOP + plotH + 16, "text-anchor": "middle" }, tick(p.t)));
    });
    svg.append(el("text", { class: "unit", x: W - RIGHT, y: H - 2, "text-anchor": "end" }, "time (UTC)"));

    const bars = series.filter((s) => s.kind === "bar");
    const barW = Math.max(1, (slot - 2) / Math.max(1, bars.length));
    bars.forEach((s, b) => {
      points.forEach((p, i) => {
        const v = p[s.key] || 0;
        if (!v) return;
        const rect = el("rect", { class: `bar ${s.css}`, x: LEFT + i * slot + 1 + b * barW, y: y(v), width: barW, height: TOP + plotH - y(v) });
        rect.append(el("title", {}, `${moment(p.t)}: ${fmt(v / scale)} ${s.label}`));
        svg.append(rect);
      });
    });
    for (const s of series.filter((one) => one.kind === "line")) {
      let run = [];
      const flush = () => {
        if (run.length > 1) svg.append(el("polyline", { class: `line ${s.css}`, points: run.join(" ") }));
        run = [];
      };
      points.forEach((p, i) => {
        const v = p[s.key];
        if (v === null || v === undefined) { flush(); return; }
        run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
        const dot = el("circle", { class: `dot ${s.css}`, cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5 });
        dot.append(el("title", {}, `${moment(p.t)}: ${s.label} ${fmt(v / scale)} ${spec.unit}`));
        svg.append(dot);
      });
      flush();
    }

    const legend = document.createElement("ul");
    legend.className = "legend-line";
    for (const s of series) {
      const item = document.createElement("li");
      item.dataset.series = s.key;
      const swatch = document.createElement("span");
      swatch.className = `swatch ${s.kind} ${s.css}`;
      item.append(swatch, document.createTextNode(s.label));
      legend.append(item);
    }
    const empty = values.length === 0;
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = empty ? "Nothing in this window yet." : "";
    box.replaceChildren(svg, legend, ...(empty ? [note] : []));
  }

  window.AgentComChart = { draw, niceScale };
})();
