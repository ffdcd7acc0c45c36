/* brasa's flame graph page (served at /, docs/http-api.md "The web page").
 *
 * The agent answers /api/flamegraph with a columnar tree (parent before
 * child); everything else is computed here, once per capture, into typed
 * arrays: depth, x offset, subtree end, per-function totals. Drawing walks
 * the preorder arrays and skips whole subtrees that are off screen or
 * narrower than a pixel (those are merged into one grey run per row), so
 * a 100,000-node profile redraws in a few milliseconds.
 *
 * The first part has no DOM: the tests run it under node
 * (tests/web/test-app.js). The second part is the page. One file of
 * about 1,000 lines: the page loads one script with no build step, the
 * self-contained HTML download inlines it whole, and the node tests
 * require the same file the agent serves. */
"use strict";

/* ---------- the tree ---------- */

const KIND = { ROOT: 0, PROCESS: 1, KERNEL: 2, NATIVE: 3, JIT: 4, UNSYMBOLIZED: 5 };
const KIND_NAMES = ["root", "process", "kernel", "native", "JIT", "unsymbolized"];

/* Normalizes node arrays (any order, parent < 0 for the root) into a tree
 * in preorder with its layout: t.x (offset in value units), t.depth,
 * t.end (one past the last node of the subtree), t.maxDepth. */
function makeTree(strings, cols, meta) {
  const n = cols.parent.length;
  const order = isPreorder(cols.parent) ? null : preorder(cols.parent);
  const pick = (a, T) => {
    if (!a) return new T(n);
    if (!order) return T.from(a);
    const out = new T(n);
    for (let i = 0; i < n; i++) out[i] = a[order[i]];
    return out;
  };
  const t = {
    strings, n, total: 0, samples: 0, unit: "", sampleType: "",
    name: pick(cols.name, Int32Array), lib: pick(cols.lib, Int32Array), file: pick(cols.file, Int32Array),
    line: pick(cols.line, Int32Array), kind: pick(cols.kind, Uint8Array), parent: pick(cols.parent, Int32Array),
    value: pick(cols.total, Float64Array), self: pick(cols.self, Float64Array),
    x: new Float64Array(n), depth: new Int32Array(n), end: new Int32Array(n), maxDepth: 0,
  };
  if (order) {
    const pos = new Int32Array(n);
    for (let i = 0; i < n; i++) pos[order[i]] = i;
    for (let i = 0; i < n; i++) if (t.parent[i] >= 0) t.parent[i] = pos[t.parent[i]];
  }
  Object.assign(t, meta || {});
  layout(t);
  if (!t.total) t.total = t.value[0];
  return t;
}

/* Node 0 the root and every node's parent on the path to the node before
 * it: what the agent sends, taken as it is. */
function isPreorder(parent) {
  if (!parent.length || parent[0] !== -1) return false;
  const path = new Int32Array(parent.length);
  let top = 0;
  for (let i = 1; i < parent.length; i++) {
    const p = parent[i];
    while (top >= 0 && path[top] !== p) top--;
    if (top < 0) return false;
    path[++top] = i;
  }
  return true;
}

/* The preorder permutation of any tree given by parent indices. */
function preorder(parent) {
  const n = parent.length;
  const count = new Int32Array(n + 1);
  let root = -1;
  for (let i = 0; i < n; i++) {
    const p = parent[i];
    if (p < 0) { if (root >= 0) throw new Error("two roots"); root = i; continue; }
    if (!(p < n)) throw new Error("bad parent " + p);
    count[p + 1]++;
  }
  if (root < 0) throw new Error("no root");
  for (let i = 0; i < n; i++) count[i + 1] += count[i];
  const kids = new Int32Array(Math.max(n - 1, 0));
  const fill = count.slice(0, n);
  for (let i = 0; i < n; i++) { const p = parent[i]; if (p >= 0) kids[fill[p]++] = i; }
  const order = new Int32Array(n);
  const stack = [root];
  let k = 0;
  while (stack.length) {
    const v = stack.pop();
    if (k >= n) throw new Error("not a tree");
    order[k++] = v;
    for (let c = count[v + 1] - 1; c >= count[v]; c--) stack.push(kids[c]);
  }
  if (k !== n) throw new Error("not a tree");
  return order;
}

function layout(t) {
  const cursor = new Float64Array(t.n);
  let maxDepth = 0;
  for (let i = 0; i < t.n; i++) {
    const p = t.parent[i];
    t.end[i] = i + 1;
    if (p < 0) { t.x[i] = 0; t.depth[i] = 0; cursor[i] = 0; continue; }
    t.x[i] = cursor[p];
    cursor[p] += t.value[i];
    cursor[i] = t.x[i];
    t.depth[i] = t.depth[p] + 1;
    if (t.depth[i] > maxDepth) maxDepth = t.depth[i];
  }
  for (let i = t.n - 1; i > 0; i--) { const p = t.parent[i]; if (t.end[i] > t.end[p]) t.end[p] = t.end[i]; }
  t.maxDepth = maxDepth;
}

/* The /api/flamegraph answer -> a tree. */
function treeFromApi(d) {
  if (!d || !d.nodes || !Array.isArray(d.strings)) throw new Error("not a flame graph answer");
  return makeTree(d.strings, d.nodes, {
    total: d.total || 0, samples: d.samples || 0, unit: d.unit || "", sampleType: d.sample_type || "",
    truncated: !!d.truncated, durationNs: d.duration_ns || 0, startNs: d.start_unix_ns || 0,
  });
}

function str(t, i) { return t.strings[i] || ""; }
function nodeName(t, i) { return str(t, t.name[i]); }
/* What makes two frames the same function across captures and tables. */
function funcKey(t, i) { return nodeName(t, i) + "\u0000" + str(t, t.lib[i]); }
function frameKey(t, i) {
  return nodeName(t, i) + "\u0000" + str(t, t.lib[i]) + "\u0000" + str(t, t.file[i]) +
    "\u0000" + t.line[i] + "\u0000" + t.kind[i];
}

/* Merges frames into a new tree (for the sandwich view): add(parent,
 * t, i, value) adds or finds the child of parent like t's node i. */
function TreeBuilder(strings) {
  this.strings = strings;
  this.cols = { name: [0], lib: [0], file: [0], line: [0], kind: [0], parent: [-1], total: [0], self: [0] };
  this.index = new Map();
}
TreeBuilder.prototype.add = function (parent, t, i, value, self) {
  const key = parent + "\u0001" + frameKey(t, i);
  let c = this.index.get(key);
  const cols = this.cols;
  if (c === undefined) {
    c = cols.parent.length;
    this.index.set(key, c);
    cols.name.push(t.name[i]); cols.lib.push(t.lib[i]); cols.file.push(t.file[i]);
    cols.line.push(t.line[i]); cols.kind.push(t.kind[i]); cols.parent.push(parent);
    cols.total.push(0); cols.self.push(0);
  }
  cols.total[c] += value;
  cols.self[c] += self || 0;
  return c;
};
/* The root becomes t's node i (the function a sandwich is about). */
TreeBuilder.prototype.finish = function (t, i, meta) {
  const c = this.cols;
  c.name[0] = t.name[i]; c.lib[0] = t.lib[i]; c.file[0] = t.file[i]; c.line[0] = t.line[i]; c.kind[0] = t.kind[i];
  return makeTree(this.strings, c, meta);
};

/* ---------- search ---------- */

/* Nodes whose name matches re, and the share of the total they cover,
 * each sample counted once: a match under a match adds nothing. */
function searchTree(t, re) {
  const matched = new Uint8Array(t.n);
  const under = new Uint8Array(t.n);
  let value = 0, count = 0;
  if (!re) return { matched: null, value: 0, share: 0, count: 0 };
  const memo = new Map();
  for (let i = 1; i < t.n; i++) {
    let m = memo.get(t.name[i]);
    if (m === undefined) { re.lastIndex = 0; m = re.test(nodeName(t, i)); memo.set(t.name[i], m); }
    const p = t.parent[i];
    if (m) { matched[i] = 1; count++; if (!under[p]) value += t.value[i]; }
    under[i] = under[p] || m ? 1 : 0;
  }
  return { matched, value, share: t.value[0] ? value / t.value[0] : 0, count };
}

/* ---------- top table ---------- */

/* Self and total per function (name and library); total counts a sample
 * once however often the function recurses in its stack. */
function topFunctions(t) {
  const byKey = new Map();
  const rows = [];
  const keyOf = new Int32Array(t.n);
  for (let i = 1; i < t.n; i++) {
    if (t.kind[i] === KIND.PROCESS) { keyOf[i] = -1; continue; }
    const k = funcKey(t, i);
    let r = byKey.get(k);
    if (r === undefined) {
      r = rows.length;
      byKey.set(k, r);
      rows.push({ index: rows.length, key: k, node: i, name: nodeName(t, i), lib: str(t, t.lib[i]), kind: t.kind[i], self: 0, total: 0 });
    }
    keyOf[i] = r;
  }
  // a name that two libraries define (a static helper, a vendored copy)
  // is told apart by its library's file name
  const named = new Map();
  for (const r of rows) named.set(r.name, (named.get(r.name) || 0) + 1);
  for (const r of rows)
    r.label = named.get(r.name) > 1 && r.lib ? r.name + " (" + r.lib.slice(r.lib.lastIndexOf("/") + 1) + ")" : r.name;
  const active = new Int32Array(rows.length);
  const path = [];
  for (let i = 1; i < t.n; i++) {
    while (path.length && path[path.length - 1] !== t.parent[i]) {
      const j = path.pop();
      if (keyOf[j] >= 0) active[keyOf[j]]--;
    }
    path.push(i);
    const r = keyOf[i];
    if (r < 0) continue;
    rows[r].self += t.self[i];
    if (!active[r]) rows[r].total += t.value[i];
    active[r]++;
  }
  return { rows, keyOf };
}

/* ---------- sandwich ---------- */

/* Callers and callees of function row r merged over every occurrence
 * (outermost ones for the weights, so recursion counts once). The
 * callers tree is inverted: its root's children are direct callers. */
function sandwich(t, keyOf, r) {
  const callers = new TreeBuilder(t.strings);
  const callees = new TreeBuilder(t.strings);
  let first = -1;
  for (let i = 1; i < t.n; i++) {
    if (keyOf[i] !== r) continue;
    let outer = true;
    for (let p = t.parent[i]; p > 0; p = t.parent[p]) if (keyOf[p] === r) { outer = false; break; }
    if (!outer) continue;
    if (first < 0) first = i;
    // callers: the path from i up to the process
    let at = 0;
    for (let p = t.parent[i]; p > 0; p = t.parent[p]) at = callers.add(at, t, p, t.value[i]);
    callers.cols.total[0] += t.value[i];
    // callees: i's subtree under the merged root
    const map = new Map([[i, 0]]);
    callees.cols.total[0] += t.value[i];
    callees.cols.self[0] += t.self[i];
    for (let j = i + 1; j < t.end[i]; j++) map.set(j, callees.add(map.get(t.parent[j]), t, j, t.value[j], t.self[j]));
  }
  if (first < 0) return null;
  // callers' selves: what has no further caller ends there
  const cc = callers.cols;
  const kidsum = new Float64Array(cc.parent.length);
  for (let c = 1; c < cc.parent.length; c++) kidsum[cc.parent[c]] += cc.total[c];
  for (let c = 0; c < cc.parent.length; c++) cc.self[c] = cc.total[c] - kidsum[c];
  const meta = { unit: t.unit, sampleType: t.sampleType, total: t.value[0] };
  return {
    callers: callers.finish(t, first, meta),
    callees: callees.finish(t, first, meta),
  };
}

/* ---------- diff ---------- */

/* For each node of t (the new capture), the node of base at the same
 * path, or -1; and the change of each node's share of its total. */
function diffTrees(base, t) {
  const bindex = new Map();
  for (let j = 1; j < base.n; j++) bindex.set(base.parent[j] + "\u0001" + frameKey(base, j), j);
  const match = new Int32Array(t.n);
  const change = new Float64Array(t.n); // relative change of the normalized value
  const bt = base.value[0] || 1, nt = t.value[0] || 1;
  match[0] = 0;
  for (let i = 1; i < t.n; i++) {
    const mp = match[t.parent[i]];
    const j = mp < 0 ? undefined : bindex.get(mp + "\u0001" + frameKey(t, i));
    match[i] = j === undefined ? -1 : j;
    if (j === undefined) { change[i] = Infinity; continue; }
    const b = base.value[j] / bt, v = t.value[i] / nt;
    change[i] = b > 0 ? (v - b) / b : Infinity;
  }
  return { match, change };
}

/* Functions whose share of the total changed most, self and total. */
function diffTable(base, t) {
  const b = topFunctions(base).rows, n = topFunctions(t).rows;
  const bt = base.value[0] || 1, nt = t.value[0] || 1;
  const rows = new Map();
  for (const r of b) rows.set(r.key, { name: r.name, lib: r.lib, base: r.self / bt, now: 0, baseTotal: r.total / bt, nowTotal: 0 });
  for (const r of n) {
    let x = rows.get(r.key);
    if (!x) { x = { name: r.name, lib: r.lib, base: 0, now: 0, baseTotal: 0, nowTotal: 0, added: true }; rows.set(r.key, x); }
    x.now = r.self / nt; x.nowTotal = r.total / nt;
  }
  const out = [...rows.values()];
  for (const r of out) { r.delta = r.now - r.base; r.removed = r.now === 0 && r.nowTotal === 0; }
  out.sort((a, c) => Math.abs(c.delta) - Math.abs(a.delta) || Math.abs(c.nowTotal - c.baseTotal) - Math.abs(a.nowTotal - a.baseTotal));
  return out;
}

/* ---------- exports: folded, speedscope ---------- */

function stackOf(t, i) {
  const s = [];
  for (let p = i; p > 0; p = t.parent[p]) s.push(p);
  return s.reverse();
}

function foldedName(t, i) {
  const name = nodeName(t, i).replace(/;/g, ":").replace(/\s+$/, "").replace(/\n/g, " ");
  return t.kind[i] === KIND.KERNEL ? name + "_[k]" : t.kind[i] === KIND.JIT ? name + "_[j]" : name;
}

/* "comm;root;...;leaf VALUE" per node with self value, as brasa capture
 * --format folded writes (values in the profile's unit). */
function toFolded(t) {
  const out = [];
  const names = new Array(t.n);
  for (let i = 1; i < t.n; i++) {
    const p = t.parent[i];
    names[i] = (p > 0 ? names[p] + ";" : "") + foldedName(t, i);
    if (t.self[i] > 0) out.push(names[i] + " " + t.self[i]);
  }
  return out.join("\n") + (out.length ? "\n" : "");
}

const SPEEDSCOPE_UNITS = ["nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"];

/* speedscope's file format (https://www.speedscope.app/file-format-schema.json):
 * one "sampled" profile, a sample per node with self value. */
function toSpeedscope(t, name) {
  const frames = [], frameIndex = new Map(), nodeFrame = new Int32Array(t.n);
  for (let i = 1; i < t.n; i++) {
    const k = frameKey(t, i);
    let f = frameIndex.get(k);
    if (f === undefined) {
      f = frames.length;
      frameIndex.set(k, f);
      const fr = { name: nodeName(t, i) };
      const file = str(t, t.file[i]) || str(t, t.lib[i]);
      if (file) fr.file = file;
      if (t.line[i] > 0) fr.line = t.line[i];
      frames.push(fr);
    }
    nodeFrame[i] = f;
  }
  const samples = [], weights = [];
  for (let i = 1; i < t.n; i++) {
    if (!(t.self[i] > 0)) continue;
    samples.push(stackOf(t, i).map((j) => nodeFrame[j]));
    weights.push(t.self[i]);
  }
  const total = weights.reduce((a, b) => a + b, 0);
  return {
    $schema: "https://www.speedscope.app/file-format-schema.json",
    shared: { frames },
    profiles: [{
      type: "sampled", name: name || "brasa", unit: SPEEDSCOPE_UNITS.includes(t.unit) ? t.unit : "none",
      startValue: 0, endValue: total, samples, weights,
    }],
    name: name || "brasa", activeProfileIndex: 0, exporter: "brasa",
  };
}

/* ---------- formatting and colors ---------- */

function fmtValue(v, unit) {
  if (unit === "nanoseconds") {
    if (v >= 1e9) return (v / 1e9).toFixed(v >= 1e10 ? 1 : 2) + " s";
    if (v >= 1e6) return (v / 1e6).toFixed(v >= 1e7 ? 1 : 2) + " ms";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + " µs";
    return v + " ns";
  }
  if (unit === "bytes") {
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let k = 0;
    while (v >= 1024 && k < u.length - 1) { v /= 1024; k++; }
    return (k ? v.toFixed(1) : v) + " " + u[k];
  }
  return String(v) + (unit && unit !== "count" ? " " + unit : "");
}

function pct(x) {
  if (!isFinite(x)) return "–";
  const p = x * 100;
  return (p >= 10 || p === 0 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toPrecision(2)) + "%";
}

function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return h >>> 0;
}

function kindColor(t, i) {
  const h = hash(nodeName(t, i));
  const v = (h % 1000) / 1000;
  switch (t.kind[i]) {
    case KIND.ROOT: return "hsl(0,0%,72%)";
    case KIND.PROCESS: return "hsl(210,25%," + (68 + 8 * v).toFixed(0) + "%)";
    case KIND.KERNEL: return "hsl(" + (28 + 10 * v).toFixed(0) + ",85%," + (58 + 8 * v).toFixed(0) + "%)";
    case KIND.JIT: return "hsl(" + (110 + 30 * v).toFixed(0) + ",50%," + (55 + 8 * v).toFixed(0) + "%)";
    case KIND.UNSYMBOLIZED: return "hsl(0,0%," + (62 + 10 * v).toFixed(0) + "%)";
    default: return "hsl(" + (2 + 45 * v).toFixed(0) + ",78%," + (55 + 10 * v).toFixed(0) + "%)";
  }
}

function libColor(t, i) {
  const lib = str(t, t.lib[i]);
  if (t.kind[i] <= KIND.PROCESS) return kindColor(t, i);
  if (!lib) return "hsl(0,0%," + (62 + (hash(nodeName(t, i)) % 10)) + "%)";
  const v = (hash(nodeName(t, i)) % 1000) / 1000;
  return "hsl(" + (hash(lib) % 360) + ",60%," + (55 + 12 * v).toFixed(0) + "%)";
}

function diffColor(change) {
  if (change === Infinity) return "hsl(0,85%,38%)";
  const c = Math.max(-1, Math.min(1, change));
  if (Math.abs(c) < 0.02) return "hsl(0,0%,82%)";
  const light = (88 - 38 * Math.abs(c)).toFixed(0);
  return c > 0 ? "hsl(0,80%," + light + "%)" : "hsl(220,80%," + light + "%)";
}

const core = {
  KIND, KIND_NAMES, makeTree, treeFromApi, TreeBuilder, searchTree, topFunctions, sandwich,
  diffTrees, diffTable, toFolded, toSpeedscope, fmtValue, pct, hash, funcKey, frameKey, nodeName,
};
if (typeof module !== "undefined" && module.exports) module.exports = core;

/* ---------- the page ---------- */

if (typeof document !== "undefined") (function page() {
  const $ = (id) => document.getElementById(id);
  const ROW = 18;
  const state = {
    data: null, tree: null, base: null, baseData: null, diff: null, zoom: 0,
    orient: "flame", colorBy: "kind", search: null, top: null, sortKey: "self", sortDesc: true,
    lastQuery: null, capturing: false, offline: false, fills: null, healthTimer: 0, agentDown: false,
  };

  /* ---- a flame graph on a canvas; reused by the sandwich view ---- */

  function Flame(canvas, opts) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.opts = opts || {};
    this.tree = null;
    this.zoom = 0;
    this.orient = this.opts.orient || "flame";
    this.fills = null;
    this.highlight = null;
    this.hover = -1;
    this.pending = false;
    this.width = 0;
  }
  Flame.prototype.set = function (tree, fills) {
    this.tree = tree; this.fills = fills; this.zoom = 0; this.highlight = null; this.hover = -1;
    this.resize();
  };
  Flame.prototype.resize = function () {
    const t = this.tree;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(100, this.canvas.parentElement.clientWidth);
    const rows = t ? t.maxDepth + 1 : 1;
    const h = rows * ROW;
    this.width = w;
    this.height = h;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = w + "px";
    this.canvas.style.height = h + "px";
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    // the root in view: at the bottom of a flame graph taller than its box
    const box = this.canvas.parentElement;
    if (box.scrollHeight > box.clientHeight) box.scrollTop = this.orient === "flame" ? box.scrollHeight : 0;
    this.draw();
  };
  Flame.prototype.draw = function () {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.paint(); });
  };
  Flame.prototype.rowY = function (depth) {
    return this.orient === "flame" ? this.height - (depth + 1) * ROW : depth * ROW;
  };
  Flame.prototype.paint = function () {
    const ctx = this.ctx, t = this.tree, W = this.width;
    ctx.clearRect(0, 0, W, this.height);
    if (!t || !t.value[0]) return;
    const z = this.zoom, x0 = t.x[z], span = t.value[z] || 1, scale = W / span;
    ctx.font = "12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
    ctx.textBaseline = "middle";
    const charW = ctx.measureText("m").width || 7;
    // ancestors of the zoomed node span the whole width
    for (let a = t.parent[z]; a >= 0; a = t.parent[a]) this.rect(a, 0, W, charW, true);
    // merged runs of frames narrower than a pixel, one per row
    const runStart = new Float64Array(t.maxDepth + 1).fill(-1), runEnd = new Float64Array(t.maxDepth + 1);
    const flush = (d) => {
      if (runStart[d] < 0) return;
      const w = runEnd[d] - runStart[d];
      if (w >= 0.5) { ctx.fillStyle = "#c8c8c8"; ctx.fillRect(runStart[d], this.rowY(d) + 1, Math.max(w, 1), ROW - 2); }
      runStart[d] = -1;
    };
    for (let i = z; i < t.end[z];) {
      const px = (t.x[i] - x0) * scale, pw = t.value[i] * scale, d = t.depth[i];
      if (pw < 1) {
        if (pw > 0) {
          if (runStart[d] >= 0 && px - runEnd[d] > 0.5) flush(d);
          if (runStart[d] < 0) runStart[d] = px;
          runEnd[d] = px + pw;
        }
        i = t.end[i]; // its subtree is narrower still
        continue;
      }
      flush(d);
      this.rect(i, px, pw, charW, false);
      i++;
    }
    for (let d = 0; d <= t.maxDepth; d++) flush(d);
  };
  Flame.prototype.rect = function (i, px, pw, charW, ancestor) {
    const ctx = this.ctx, t = this.tree, y = this.rowY(t.depth[i]);
    let fill = this.fills ? this.fills[i] : "#e0a060";
    if (this.highlight && !this.highlight[i]) fill = dim(fill);
    else if (this.highlight) fill = "#d040d0";
    ctx.fillStyle = fill;
    ctx.fillRect(px + 0.5, y + 1, Math.max(pw - 1, 0.5), ROW - 2);
    if (ancestor) { ctx.fillStyle = "rgba(255,255,255,0.35)"; ctx.fillRect(px, y + 1, pw, ROW - 2); }
    if (i === this.hover) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.strokeRect(px + 1, y + 1.5, Math.max(pw - 2, 1), ROW - 3); }
    if (pw > 3 * charW) {
      const name = nodeName(t, i);
      const fit = Math.floor((pw - 6) / charW);
      ctx.fillStyle = "#111";
      ctx.fillText(fit >= name.length ? name : name.slice(0, Math.max(fit - 1, 1)) + "…", px + 3, y + ROW / 2);
    }
  };
  /* The node under the CSS pixel (x, y) of the canvas, or -1. */
  Flame.prototype.frameAt = function (x, y) {
    const t = this.tree;
    if (!t) return -1;
    const d = this.orient === "flame" ? Math.floor((this.height - y) / ROW) : Math.floor(y / ROW);
    if (d < 0 || d > t.maxDepth || x < 0 || x >= this.width) return -1;
    const z = this.zoom;
    if (d <= t.depth[z]) {
      let a = z;
      while (t.depth[a] > d) a = t.parent[a];
      return a;
    }
    const v = t.x[z] + (x / this.width) * t.value[z];
    // walk down from the zoomed node, one level at a time
    let at = z;
    while (t.depth[at] < d) {
      let next = -1;
      for (let c = at + 1; c < t.end[at]; c = t.end[c]) {
        if (v >= t.x[c] && v < t.x[c] + t.value[c]) { next = c; break; }
      }
      if (next < 0) return -1;
      at = next;
    }
    return at;
  };

  function dim(color) {
    const m = /hsl\((\d+),(\d+)%,(\d+)%\)/.exec(color);
    return m ? "hsl(" + m[1] + ",10%," + Math.min(92, +m[3] + 15) + "%)" : "#ddd";
  }

  const flame = new Flame($("flame"));
  const callersFlame = new Flame($("sandwich-callers"), { orient: "flame" });
  const calleesFlame = new Flame($("sandwich-callees"), { orient: "icicle" });

  /* ---- status, messages ---- */

  function status(text, kind) {
    const s = $("status");
    s.textContent = text;
    s.className = kind || "";
  }
  function message(text) {
    const m = $("message");
    m.hidden = !text;
    m.textContent = text || "";
  }

  /* ---- showing a capture ---- */

  function fills(t) {
    const out = new Array(t.n);
    if (state.diff) {
      for (let i = 0; i < t.n; i++) out[i] = i === 0 ? "hsl(0,0%,80%)" : diffColor(state.diff.change[i]);
      return out;
    }
    const f = state.colorBy === "lib" ? libColor : kindColor;
    for (let i = 0; i < t.n; i++) out[i] = f(t, i);
    return out;
  }

  function show(data) {
    let t;
    try {
      t = treeFromApi(data);
    } catch (e) {
      status("the agent's answer could not be read: " + e.message, "error");
      return;
    }
    state.data = data;
    state.tree = t;
    state.zoom = 0;
    state.diff = state.base ? diffTrees(state.base, t) : null;
    state.top = topFunctions(t);
    state.fills = fills(t);
    flame.orient = state.orient;
    flame.set(t, state.fills);
    $("sandwich").hidden = true;
    applySearch();
    renderCrumbs();
    renderTop();
    renderDiffTable();
    updateDownloads();
    if (!t.value[0]) {
      message(t.sampleType === "off_cpu" || t.sampleType === "wall"
        ? "No samples: no matching thread left a CPU during the capture. Try a longer capture or another target."
        : "No samples: nothing matching ran on a CPU during the capture. Try a longer capture or another target.");
    } else {
      message("");
    }
    const what = t.samples + " samples, " + fmtValue(t.value[0], t.unit) + ", " + (t.n - 1) + " frames" +
      (t.truncated ? " (narrow frames merged)" : "");
    status(state.diff ? "diff against the base: " + what : what, "");
  }

  function zoomTo(i) {
    const t = state.tree;
    if (!t || i < 0 || i >= t.n) return;
    state.zoom = i;
    flame.zoom = i;
    flame.draw();
    renderCrumbs();
  }

  function renderCrumbs() {
    const c = $("crumbs");
    c.textContent = "";
    const t = state.tree;
    if (!t) return;
    const path = [];
    for (let a = state.zoom; a >= 0; a = t.parent[a]) path.push(a);
    path.reverse();
    path.forEach((a, k) => {
      if (k) c.append(" › ");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "crumb";
      b.textContent = a === 0 ? "all" : nodeName(t, a);
      b.addEventListener("click", () => zoomTo(a));
      c.append(b);
    });
    if (state.zoom) {
      const r = document.createElement("button");
      r.type = "button";
      r.id = "zoom-reset";
      r.textContent = "reset zoom";
      r.addEventListener("click", () => zoomTo(0));
      c.append("  ", r);
    }
  }

  /* ---- search ---- */

  function applySearch() {
    const text = $("search").value;
    const t = state.tree;
    let re = null;
    $("search").classList.remove("bad");
    if (text) {
      try { re = new RegExp(text); } catch (e) { $("search").classList.add("bad"); }
    }
    state.search = t && re ? searchTree(t, re) : null;
    flame.highlight = state.search ? state.search.matched : null;
    flame.draw();
    $("search-share").textContent = state.search
      ? state.search.count + " frames, " + pct(state.search.share) + " of total (" + fmtValue(state.search.value, t.unit) + ")"
      : "";
    return state.search;
  }

  /* ---- tooltip ---- */

  function tooltip(ev, fl, i) {
    const tip = $("tooltip");
    const t = fl.tree;
    if (i < 0 || !t) { tip.hidden = true; return; }
    const p = t.parent[i];
    const lines = [[nodeName(t, i), "name"]];
    const lib = str(t, t.lib[i]), file = str(t, t.file[i]);
    if (lib) lines.push([lib, "lib"]);
    if (file) lines.push([file + (t.line[i] ? ":" + t.line[i] : ""), "file"]);
    lines.push([KIND_NAMES[t.kind[i]] || "", "kind"]);
    const total = t.total || t.value[0] || 1;
    lines.push([fmtValue(t.value[i], t.unit) + " (self " + fmtValue(t.self[i], t.unit) + ")", "value"]);
    lines.push([pct(t.value[i] / total) + " of total" + (p >= 0 ? ", " + pct(t.value[i] / (t.value[p] || 1)) + " of parent" : ""), "share"]);
    if (fl === flame && state.diff && i > 0) {
      const j = state.diff.match[i];
      if (j < 0) lines.push(["new: not in the base", "diff"]);
      else {
        const b = state.base.value[j] / (state.base.value[0] || 1);
        lines.push(["base " + pct(b) + " → now " + pct(t.value[i] / (t.value[0] || 1)) +
          " (" + (state.diff.change[i] >= 0 ? "+" : "") + pct(state.diff.change[i]) + ")", "diff"]);
      }
    }
    tip.textContent = "";
    for (const [text, cls] of lines) {
      const d = document.createElement("div");
      d.className = "tip-" + cls;
      d.textContent = text;
      tip.append(d);
    }
    tip.hidden = false;
    const pad = 14, r = tip.getBoundingClientRect();
    let x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + r.width > window.innerWidth) x = Math.max(0, ev.clientX - r.width - pad);
    if (y + r.height > window.innerHeight) y = Math.max(0, ev.clientY - r.height - pad);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }

  function wireCanvas(fl, onClick) {
    const c = fl.canvas;
    c.addEventListener("mousemove", (ev) => {
      const r = c.getBoundingClientRect();
      const i = fl.frameAt(ev.clientX - r.left, ev.clientY - r.top);
      if (i !== fl.hover) { fl.hover = i; fl.draw(); }
      tooltip(ev, fl, i);
    });
    c.addEventListener("mouseleave", () => { fl.hover = -1; fl.draw(); $("tooltip").hidden = true; });
    c.addEventListener("click", (ev) => {
      const r = c.getBoundingClientRect();
      const i = fl.frameAt(ev.clientX - r.left, ev.clientY - r.top);
      if (i >= 0) onClick(i);
    });
  }

  /* ---- top table and sandwich ---- */

  function renderTop() {
    const body = $("top-table").tBodies[0];
    body.textContent = "";
    const t = state.tree;
    if (!t || !state.top) return;
    const f = $("top-filter").value.toLowerCase();
    let rows = state.top.rows.filter((r) => !f || r.name.toLowerCase().includes(f) || r.lib.toLowerCase().includes(f));
    const k = state.sortKey, dir = state.sortDesc ? -1 : 1;
    rows.sort((a, b) => (k === "name" ? a.label.localeCompare(b.label) : a[k] - b[k]) * dir);
    const total = t.value[0] || 1;
    const shown = rows.slice(0, 500);
    const frag = document.createDocumentFragment();
    for (const r of shown) {
      const tr = document.createElement("tr");
      tr.dataset.row = r.index;
      const n = document.createElement("td");
      n.textContent = r.label;
      n.title = r.name + (r.lib ? "\n" + r.lib : "");
      const s = document.createElement("td");
      s.className = "num";
      s.textContent = pct(r.self / total);
      s.title = fmtValue(r.self, t.unit);
      const to = document.createElement("td");
      to.className = "num";
      to.textContent = pct(r.total / total);
      to.title = fmtValue(r.total, t.unit);
      tr.append(n, s, to);
      frag.append(tr);
    }
    body.append(frag);
    if (rows.length > shown.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 3;
      td.className = "more";
      td.textContent = (rows.length - shown.length) + " more: filter to see them";
      tr.append(td);
      body.append(tr);
    }
    for (const th of $("top-table").tHead.rows[0].cells)
      th.className = (th.dataset.key === k ? (state.sortDesc ? "desc" : "asc") : "") + (th.dataset.key !== "name" ? " num" : "");
  }

  function openSandwich(r) {
    const t = state.tree;
    const s = sandwich(t, state.top.keyOf, r);
    if (!s) return;
    const row = state.top.rows[r];
    $("sandwich").hidden = false;
    $("sandwich-title").textContent = row.name + (row.lib ? " (" + row.lib + ")" : "") + ": self " +
      pct(row.self / (t.value[0] || 1)) + ", total " + pct(row.total / (t.value[0] || 1));
    const f = state.colorBy === "lib" ? libColor : kindColor;
    const fillsOf = (x) => { const o = new Array(x.n); for (let i = 0; i < x.n; i++) o[i] = f(x, i); return o; };
    callersFlame.set(s.callers, fillsOf(s.callers));
    calleesFlame.set(s.callees, fillsOf(s.callees));
    state.sandwich = s;
    $("sandwich").scrollIntoView({ block: "nearest" });
  }

  function renderDiffTable() {
    const wrap = $("diff-table-wrap");
    const body = $("diff-table").tBodies[0];
    body.textContent = "";
    wrap.hidden = !state.diff;
    $("diff-clear").hidden = !state.base;
    if (!state.diff) return;
    const rows = diffTable(state.base, state.tree).slice(0, 100);
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.className = r.added ? "added" : r.removed ? "removed" : r.delta > 0 ? "up" : "down";
      const cells = [r.name + (r.added ? " (new)" : r.removed ? " (gone)" : ""), pct(r.base), pct(r.now),
        (r.delta >= 0 ? "+" : "") + pct(r.delta)];
      cells.forEach((c, k) => {
        const td = document.createElement("td");
        td.textContent = c;
        if (k) td.className = "num";
        if (!k) td.title = r.name + (r.lib ? "\n" + r.lib : "");
        tr.append(td);
      });
      frag.append(tr);
    }
    body.append(frag);
  }

  /* ---- downloads ---- */

  function queryString(q) {
    const p = new URLSearchParams();
    if (q.start !== undefined) {
      p.set("start", q.start.toFixed(3));
      p.set("end", q.end.toFixed(3));
    } else {
      p.set("seconds", q.seconds);
    }
    if (q.type) p.set("type", q.type);
    if (q.pid) p.set("pid", q.pid);
    if (q.match) p.set("match", q.match);
    return p.toString();
  }

  function blobLink(a, make, type) {
    a.onclick = (ev) => {
      if (!state.tree) { ev.preventDefault(); return; }
      Promise.resolve(make()).then((text) => {
        const url = URL.createObjectURL(new Blob([text], { type }));
        const tmp = document.createElement("a");
        tmp.href = url;
        tmp.download = a.getAttribute("download");
        document.body.append(tmp);
        tmp.click();
        tmp.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      }).catch((e) => status("download failed: " + e.message, "error"));
      ev.preventDefault();
    };
  }

  function updateDownloads() {
    const a = $("download-pprof");
    if (state.lastQuery && !state.offline) {
      a.href = "/api/flamegraph?format=pprof&" + queryString(state.lastQuery);
      a.title = "records a new " + state.lastQuery.seconds + " s window with the same parameters (the agent keeps no capture)";
      a.removeAttribute("aria-disabled");
    } else {
      a.removeAttribute("href");
      a.setAttribute("aria-disabled", "true");
    }
    for (const id of ["download-folded", "download-speedscope", "download-html"])
      if (state.tree) $(id).removeAttribute("aria-disabled"); else $(id).setAttribute("aria-disabled", "true");
  }

  /* The agent composes the self-contained file (/ui/saved.html: script
   * and style inline, an empty data element); the page only fills in
   * the graph it shows. A saved file re-saves its own shell. */
  const EMPTY_DATA = '<script id="embedded-data" type="application/json"></script>';
  async function selfContainedHtml() {
    let shell = state.shell;
    if (!shell) {
      const r = await fetch("/ui/saved.html", { cache: "no-store" });
      if (!r.ok) throw new Error("/ui/saved.html: " + r.status);
      shell = await r.text();
    }
    if (!shell.includes(EMPTY_DATA)) throw new Error("the page has no place for its data");
    const embed = JSON.stringify({ data: state.data, base: state.baseData }).replace(/</g, "\\u003c");
    return shell.replace(EMPTY_DATA, () => EMPTY_DATA.replace("><", () => ">" + embed + "<"));
  }

  /* ---- capture ---- */

  function readForm() {
    const seconds = parseInt($("capture-seconds").value, 10);
    if (!(seconds >= 1)) throw new Error("seconds: a whole number of at least 1");
    return readTarget({ seconds });
  }

  /* The form's sample type and target, into q. */
  function readTarget(q) {
    const target = $("capture-target").value;
    q.type = $("capture-type").value;
    if (target === "pid") {
      const pid = parseInt($("capture-pid").value, 10);
      if (!(pid > 0)) throw new Error("pid: a process id");
      q.pid = pid;
    } else if (target === "match") {
      const m = $("capture-match").value.trim();
      if (!m) throw new Error("label matcher: e.g. {service_name=\"api\"}");
      q.match = m;
    }
    return q;
  }

  async function capture() {
    if (state.capturing) return;
    let q;
    try { q = readForm(); } catch (e) { status(e.message, "error"); return; }
    state.capturing = true;
    $("capture-start").disabled = true;
    const bar = $("capture-progress");
    bar.hidden = false;
    bar.value = 0;
    const t0 = performance.now(), ms = q.seconds * 1000;
    let raf = 0;
    const tick = () => {
      const el = performance.now() - t0;
      bar.value = Math.min(1, el / ms);
      status(el < ms ? "capturing: " + Math.floor(el / 1000) + " / " + q.seconds + " s" : "building the flame graph…", "busy");
      raf = requestAnimationFrame(tick);
    };
    tick();
    try {
      if (await fetchAndShow(q, "capture")) loadTimeline();
    } finally {
      cancelAnimationFrame(raf);
      bar.hidden = true;
      state.capturing = false;
      $("capture-start").disabled = false;
    }
  }

  /* /api/flamegraph for q, shown; false (said in the status line) when
   * the agent did not answer with a tree. */
  async function fetchAndShow(q, what) {
    let r;
    try {
      r = await fetch("/api/flamegraph?" + queryString(q), { cache: "no-store" });
    } catch (e) {
      agentGone();
      return false;
    }
    const text = await r.text();
    if (!r.ok) {
      status(what + " failed (" + r.status + "): " + text.trim(), "error");
      return false;
    }
    let data;
    try { data = JSON.parse(text); } catch (e) { status("the agent's answer is not JSON: " + e.message, "error"); return false; }
    state.lastQuery = q;
    show(data);
    return true;
  }

  /* ---- history: the timeline and its ranges ---- */

  const timeline = window.BrasaTimeline ? window.BrasaTimeline($("timeline"), showRange) : null;

  function clock(ns) {
    return new Date(ns / 1e6).toLocaleTimeString([], { hour12: false });
  }

  /* The stored windows of the last span, split by a label; the strip
   * stays hidden on an agent without a history (404). */
  async function loadTimeline() {
    if (!timeline || state.offline) return;
    // the picker's type; the history has no wall windows: its cpu ones
    const type = $("capture-type").value === "wall" ? "cpu" : $("capture-type").value || "cpu";
    const p = new URLSearchParams({ since: $("timeline-span").value, by: $("timeline-by").value, top: "8", type });
    let r, data;
    try {
      r = await fetch("/api/timeline?" + p, { cache: "no-store" });
      if (r.status === 404) { $("history").hidden = true; return; }
      if (!r.ok) throw new Error(r.status + ": " + (await r.text()).trim());
      data = await r.json();
    } catch (e) {
      $("timeline-info").textContent = "timeline: " + e.message;
      return;
    }
    $("history").hidden = false;
    timeline.set(data);
    const legend = $("timeline-legend");
    legend.textContent = "";
    data.series.forEach((s, i) => {
      const item = document.createElement("span");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = timeline.color(i, s.other);
      item.append(sw, s.other ? "other" : s.value === "" ? "(none)" : s.value);
      legend.append(item);
    });
    const w = data.windows;
    $("timeline-info").textContent = w.length
      ? w.length + " windows, " + clock(w[0].start_unix_ns) + "–" + clock(data.end_unix_ns) + ": drag to see a range"
      : "no windows stored in this span yet";
  }

  /* What the agent records: the type picker offers its sample types. */
  async function loadInfo() {
    try {
      const r = await fetch("/api/info", { cache: "no-store" });
      if (!r.ok) return;
      const info = await r.json();
      const sel = $("capture-type"), keep = sel.value;
      const titles = { cpu: "on-CPU time: what ran, sampled at the agent's frequency",
                       off_cpu: "off-CPU time: where threads waited (blocked or preempted)",
                       wall: "wall-clock time: on-CPU and off-CPU together, per thread" };
      sel.textContent = "";
      for (const t of info.sample_types) {
        const o = document.createElement("option");
        o.value = o.textContent = t;
        o.title = titles[t] || "";
        sel.append(o);
      }
      sel.value = info.sample_types.includes(keep) ? keep : info.sample_types[0];
      state.info = info;
    } catch (e) { /* the page works with cpu alone */ }
  }

  /* The label names the history holds, for the "by" picker. */
  async function loadLabelNames() {
    try {
      const r = await fetch("/api/labels?since=" + $("timeline-span").value, { cache: "no-store" });
      if (!r.ok) return;
      const names = (await r.json()).names.map((n) => n.name);
      const sel = $("timeline-by"), keep = sel.value;
      sel.textContent = "";
      for (const n of names.length ? names : ["comm"]) {
        const o = document.createElement("option");
        o.value = o.textContent = n;
        sel.append(o);
      }
      sel.value = names.includes(keep) ? keep : names.includes("comm") ? "comm" : sel.options[0].value;
    } catch (e) { /* the timeline reports the agent's state */ }
  }

  /* A range of the history (Unix ns) as a flame graph, with the form's
   * type and target. */
  async function showRange(range) {
    let q;
    try { q = readTarget({ start: range.start / 1e9, end: range.end / 1e9 }); } catch (e) { status(e.message, "error"); return; }
    status("reading the history…", "busy");
    if (timeline) timeline.select(range);
    if (await fetchAndShow(q, "history"))
      status("history " + clock(range.start) + "–" + clock(range.end) + ": " + $("status").textContent, "");
  }

  /* The agent does not answer: say so and poll /healthz until it does. */
  function agentGone() {
    state.agentDown = true;
    status("the agent is unreachable (restarting?): retrying…", "error");
    $("capture-start").disabled = true;
    clearTimeout(state.healthTimer);
    state.healthTimer = setTimeout(checkHealth, 2000);
  }

  async function checkHealth() {
    let ok = false;
    try { ok = (await fetch("/healthz", { cache: "no-store" })).status < 500; } catch (e) { ok = false; }
    if (!ok) { agentGone(); return; }
    if (state.agentDown) {
      state.agentDown = false;
      status("the agent is back" + (state.tree ? " (the graph shown is from before it went away)" : ""), "");
      $("capture-start").disabled = state.capturing;
    }
    state.healthTimer = setTimeout(checkHealth, 5000);
  }

  /* ---- diff ---- */

  /* The graph shown becomes the base; the next capture is drawn against it. */
  function keepBase() {
    if (!state.tree) return;
    state.base = state.tree;
    state.baseData = state.data;
    state.diff = null;
    state.fills = fills(state.tree);
    flame.fills = state.fills;
    flame.draw();
    renderDiffTable();
    status("kept as the base: capture again (another time, pid or matcher) to compare", "");
  }

  function leaveDiff() {
    state.base = null;
    state.baseData = null;
    if (state.data) show(state.data);
    $("diff-clear").hidden = true;
  }

  /* ---- wiring ---- */

  function init() {
    $("capture-form").addEventListener("submit", (ev) => { ev.preventDefault(); capture(); });
    $("capture-target").addEventListener("change", () => {
      const v = $("capture-target").value;
      $("capture-pid").hidden = v !== "pid";
      $("capture-match").hidden = v !== "match";
    });
    for (const id of ["view-flame", "view-icicle"])
      $(id).addEventListener("change", () => {
        state.orient = $("view-icicle").checked ? "icicle" : "flame";
        flame.orient = state.orient;
        flame.resize();
      });
    $("color-by").addEventListener("change", () => {
      state.colorBy = $("color-by").value;
      if (state.tree) { state.fills = fills(state.tree); flame.fills = state.fills; flame.draw(); }
    });
    let searchTimer = 0;
    $("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(applySearch, 120); });
    $("top-filter").addEventListener("input", renderTop);
    for (const th of $("top-table").tHead.rows[0].cells)
      th.addEventListener("click", () => {
        const k = th.dataset.key;
        if (state.sortKey === k) state.sortDesc = !state.sortDesc; else { state.sortKey = k; state.sortDesc = k !== "name"; }
        renderTop();
      });
    $("top-table").tBodies[0].addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr");
      if (tr && tr.dataset.row !== undefined) openSandwich(+tr.dataset.row);
    });
    $("sandwich-close").addEventListener("click", () => { $("sandwich").hidden = true; });
    $("diff-base").addEventListener("click", keepBase);
    $("diff-clear").addEventListener("click", leaveDiff);
    $("timeline-span").addEventListener("change", () => loadLabelNames().then(loadTimeline));
    $("timeline-by").addEventListener("change", loadTimeline);
    $("capture-type").addEventListener("change", loadTimeline);
    $("timeline-refresh").addEventListener("click", loadTimeline);
    wireCanvas(flame, zoomTo);
    wireCanvas(callersFlame, () => {});
    wireCanvas(calleesFlame, (i) => { calleesFlame.zoom = i; calleesFlame.draw(); });
    blobLink($("download-folded"), () => toFolded(state.tree), "text/plain");
    blobLink($("download-speedscope"), () => JSON.stringify(toSpeedscope(state.tree, "brasa " + new Date().toISOString())), "application/json");
    blobLink($("download-html"), selfContainedHtml, "text/html");
    $("download-pprof").addEventListener("click", (ev) => { if (!$("download-pprof").href) ev.preventDefault(); });
    let resizeRaf = 0;
    window.addEventListener("resize", () => {
      cancelAnimationFrame(resizeRaf);
      resizeRaf = requestAnimationFrame(() => { flame.resize(); if (!$("sandwich").hidden) { callersFlame.resize(); calleesFlame.resize(); } });
    });
    updateDownloads();

    const embedded = $("embedded-data").textContent.trim();
    if (embedded) {
      // a downloaded self-contained file: no agent behind it
      state.offline = true;
      $("capture-form").hidden = true;
      const e = JSON.parse(embedded);
      // the file as it was opened, its data taken out, for re-saving
      $("embedded-data").textContent = "";
      state.shell = "<!DOCTYPE html>\n" + document.documentElement.outerHTML;
      if (e.base) { state.baseData = e.base; state.base = treeFromApi(e.base); }
      show(e.data);
      status("saved capture (offline): " + $("status").textContent, "");
    } else {
      message("Start a capture: every process, one pid or a label matcher, for N seconds" +
        " (or pick a range of the history above, when the agent keeps one).");
      state.healthTimer = setTimeout(checkHealth, 5000);
      loadInfo();
      loadLabelNames().then(loadTimeline);
      // new windows every upload interval: a minute is fresh enough
      setInterval(() => { if (!document.hidden) loadTimeline(); }, 60000);
    }
  }

  window.brasa = {
    // the /api/flamegraph answer shown (node indices as frameAt and zoom
    // use them), with the diff base's answer as .base in diff mode
    get tree() { return state.data && Object.assign({}, state.data, { base: state.baseData }); },
    get layout() { return state.tree; },
    get base() { return state.base; },
    get zoomed() { return state.zoom; },
    zoom: zoomTo,
    search(re) { $("search").value = re instanceof RegExp ? re.source : re || ""; return applySearch(); },
    frameAt: (x, y) => flame.frameAt(x, y),
    // the fill of node i as drawn (by kind, by library or by change)
    fill: (i) => state.fills && state.fills[i],
    // the sandwich shown: the names of the direct callers and callees
    get sandwich() {
      if ($("sandwich").hidden || !state.sandwich) return null;
      const kids = (x) => { const o = []; for (let i = 1; i < x.n; i++) if (x.parent[i] === 0) o.push(nodeName(x, i)); return o; };
      return { callers: kids(state.sandwich.callers), callees: kids(state.sandwich.callees) };
    },
    show: (data) => show(data),
    // the history: the last /api/timeline answer (null without one), and
    // a range (Unix ns) shown as a drag over the timeline would
    get timeline() { return timeline ? timeline.data : null; },
    selectRange: (start, end) => showRange({ start, end }),
    timelineX: (ns) => (timeline ? timeline.xOf(ns) : -1),
    reloadTimeline: () => loadTimeline(),
    // what the download links save, for tests
    folded: () => toFolded(state.tree),
    speedscope: () => toSpeedscope(state.tree, "brasa"),
    html: selfContainedHtml,
    core,
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
