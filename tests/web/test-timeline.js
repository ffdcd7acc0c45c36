// The history timeline's computations (serve/web/timeline.js without its
// DOM part): bar layout over a range and the range a drag or a click picks.
//   node tests/web/test-timeline.js
"use strict";
const assert = require("assert");
const path = require("path");
const tl = require(path.join(__dirname, "../../serve/web/timeline.js"));

let failed = 0;
function test(name, fn) {
  try { fn(); console.log("ok   " + name); } catch (e) { failed++; console.log("FAIL " + name + "\n" + e.stack); }
}

const S = 1e9;
// 4 windows of 15 s from t=100 s, in a range 100..160 s; two series + other
const data = {
  start_unix_ns: 100 * S, end_unix_ns: 160 * S,
  windows: [0, 1, 2, 3].map((i) => ({ start_unix_ns: (100 + 15 * i) * S, duration_ns: 15 * S, samples: [10, 20, 0, 40][i] })),
  series: [
    { value: "a", total: 50, counts: [10, 10, 0, 30] },
    { value: "b", total: 15, counts: [0, 5, 0, 10] },
    { value: null, other: true, total: 5, counts: [0, 5, 0, 0] },
  ],
};

test("bars: windows side by side, stacked and scaled to the busiest", () => {
  const { bars, max } = tl.timelineLayout(data, 600, 62);
  assert.strictEqual(max, 40);
  assert.deepStrictEqual(bars.map((b) => Math.round(b.x)), [0, 150, 300, 450]);
  assert.deepStrictEqual(bars.map((b) => Math.round(b.w)), [150, 150, 150, 150]);
  // the busiest window is full height (60 px, 2 px margin), its parts
  // stacked from the bottom: a (30) under b (10)
  const last = bars[3].parts;
  assert.ok(Math.abs(last[0].h - 45) < 1e-9 && Math.abs(last[1].h - 15) < 1e-9);
  assert.ok(Math.abs(last[0].y - 17) < 1e-9 && Math.abs(last[1].y - 2) < 1e-9);
  assert.strictEqual(bars[2].parts.every((p) => p.h === 0), true);
});

test("a drag picks the time under it, a click the window", () => {
  assert.deepStrictEqual(tl.timelineRange(data, 600, 150, 300), { start: 115 * S, end: 130 * S });
  assert.deepStrictEqual(tl.timelineRange(data, 600, 300, 150), { start: 115 * S, end: 130 * S });
  // past the edges: clamped to the range
  assert.deepStrictEqual(tl.timelineRange(data, 600, -50, 700), { start: 100 * S, end: 160 * S });
  // a click (< 3 px) inside the third window
  assert.deepStrictEqual(tl.timelineRange(data, 600, 320, 321), { start: 130 * S, end: 145 * S });
  // a click where no window is
  const sparse = Object.assign({}, data, { windows: [data.windows[0]] });
  assert.strictEqual(tl.timelineRange(sparse, 600, 500, 500), null);
});

test("the strip starts at the first stored window when that is later", () => {
  const young = Object.assign({}, data, { start_unix_ns: 0 });
  assert.deepStrictEqual(tl.timelineExtent(young), { t0: 100 * S, span: 60 * S });
  assert.deepStrictEqual(tl.timelineExtent(data), { t0: 100 * S, span: 60 * S });
  const late = Object.assign({}, data, { start_unix_ns: 110 * S });
  assert.deepStrictEqual(tl.timelineExtent(late), { t0: 110 * S, span: 50 * S });
  assert.deepStrictEqual(tl.timelineRange(young, 600, 150, 300), { start: 115 * S, end: 130 * S });
});

test("colors: one per series, other grey", () => {
  assert.notStrictEqual(tl.seriesColor(0, false), tl.seriesColor(1, false));
  assert.strictEqual(tl.seriesColor(5, true), "hsl(0,0%,72%)");
});

process.exit(failed ? 1 : 0);
