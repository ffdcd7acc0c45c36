/* brasa's history timeline (GET /api/timeline, docs/http-api.md): samples
 * per stored window as stacked bars, one color per series (the top values
 * of a process label, then "other"), and a range chosen by dragging over
 * it (or a click: that window). app.js shows the chosen range's flame
 * graph. The part without a DOM (layout, the range under a drag) is
 * tested under node (tests/web/test-timeline.js). */
"use strict";

/* The time the strip spans: the range asked for, from the first window
 * stored in it when that is later (a young agent's few minutes fill the
 * width, not a sliver of it). */
function timelineExtent(tl) {
  const first = tl.windows.length ? tl.windows[0].start_unix_ns : tl.start_unix_ns;
  const t0 = Math.max(tl.start_unix_ns, first);
  return { t0, span: Math.max(1, tl.end_unix_ns - t0) };
}

/* Where each window's bars go on a width x height canvas: per window x, w
 * and, per series, y and h (stacked from the bottom, scaled to the
 * busiest window). */
function timelineLayout(tl, width, height) {
  const { t0, span } = timelineExtent(tl);
  const max = Math.max(1, ...tl.windows.map((w) => w.samples));
  const bars = tl.windows.map((w, i) => {
    const x = Math.max(0, ((w.start_unix_ns - t0) / span) * width);
    const x1 = Math.min(width, ((w.start_unix_ns + w.duration_ns - t0) / span) * width);
    let y = height;
    const parts = tl.series.map((s) => {
      const h = (s.counts[i] / max) * (height - 2);
      y -= h;
      return { y, h };
    });
    return { x, w: Math.max(1, x1 - x), parts, window: w };
  });
  return { bars, max };
}

/* The time range [start, end) in Unix ns that a drag from x0 to x1 px
 * covers on a canvas width px wide; a drag under 3 px is a click: the
 * window under it (null when none). */
function timelineRange(tl, width, x0, x1) {
  const { t0, span } = timelineExtent(tl);
  const at = (x) => t0 + (Math.max(0, Math.min(width, x)) / width) * span;
  if (Math.abs(x1 - x0) >= 3) {
    const a = at(Math.min(x0, x1)), b = at(Math.max(x0, x1));
    return { start: Math.floor(a), end: Math.ceil(b) };
  }
  const t = at(x0);
  const w = tl.windows.find((w) => t >= w.start_unix_ns && t < w.start_unix_ns + w.duration_ns);
  return w ? { start: w.start_unix_ns, end: w.start_unix_ns + w.duration_ns } : null;
}

function seriesColor(i, other) {
  return other ? "hsl(0,0%,72%)" : "hsl(" + ((i * 47 + 200) % 360) + ",55%,55%)";
}

const timelineCore = { timelineExtent, timelineLayout, timelineRange, seriesColor };
if (typeof module !== "undefined" && module.exports) module.exports = timelineCore;

if (typeof document !== "undefined") {
  /* The strip on a canvas: set(tl) draws, onSelect(range) is called with
   * the range a drag or a click chose; select(range) shows one. */
  window.BrasaTimeline = function (canvas, onSelect) {
    const ctx = canvas.getContext("2d");
    const HEIGHT = 64;
    let tl = null, layout = null, drag = null, chosen = null, width = 0;

    function resize() {
      const dpr = window.devicePixelRatio || 1;
      width = Math.max(100, canvas.parentElement.clientWidth);
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(HEIGHT * dpr);
      canvas.style.width = width + "px";
      canvas.style.height = HEIGHT + "px";
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      layout = tl ? timelineLayout(tl, width, HEIGHT) : null;
      draw();
    }

    function xOf(ns) {
      const { t0, span } = timelineExtent(tl);
      return ((ns - t0) / span) * width;
    }

    function draw() {
      ctx.clearRect(0, 0, width, HEIGHT);
      ctx.fillStyle = "#f2f2f0";
      ctx.fillRect(0, 0, width, HEIGHT);
      if (!layout) return;
      for (const b of layout.bars)
        b.parts.forEach((p, i) => {
          if (p.h <= 0) return;
          ctx.fillStyle = seriesColor(i, tl.series[i].other);
          ctx.fillRect(b.x, p.y, Math.max(1, b.w - 0.5), p.h);
        });
      const sel = drag ? { a: Math.min(drag.x0, drag.x1), b: Math.max(drag.x0, drag.x1) }
        : chosen ? { a: xOf(chosen.start), b: xOf(chosen.end) } : null;
      if (sel) {
        ctx.fillStyle = "rgba(192,70,27,0.18)";
        ctx.fillRect(sel.a, 0, Math.max(2, sel.b - sel.a), HEIGHT);
        ctx.strokeStyle = "#c0461b";
        ctx.strokeRect(sel.a + 0.5, 0.5, Math.max(2, sel.b - sel.a) - 1, HEIGHT - 1);
      }
    }

    const px = (ev) => ev.clientX - canvas.getBoundingClientRect().left;
    canvas.addEventListener("mousedown", (ev) => {
      if (!tl || ev.button !== 0) return;
      drag = { x0: px(ev), x1: px(ev) };
      draw();
    });
    window.addEventListener("mousemove", (ev) => {
      if (!drag) return;
      drag.x1 = px(ev);
      draw();
    });
    window.addEventListener("mouseup", () => {
      if (!drag) return;
      const r = timelineRange(tl, width, drag.x0, drag.x1);
      drag = null;
      if (r) { chosen = r; onSelect(r); }
      draw();
    });
    window.addEventListener("resize", () => { if (tl) resize(); });

    return {
      set(data) { tl = data; resize(); },
      select(r) { chosen = r; draw(); },
      get data() { return tl; },
      get selected() { return chosen; },
      xOf: (ns) => (tl ? xOf(ns) : -1),
      color: seriesColor,
      resize,
    };
  };
}
