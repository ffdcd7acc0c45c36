// The page's computations (serve/web/app.js, the part without a DOM) on
// trees made by tests/tools/folded-to-flamegraph.py:
//   node tests/web/test-app.js SMALL.json BIG.json
// SMALL is the folded text below; BIG a synthetic ~100,000-node profile.
"use strict";
const assert = require("assert");
const fs = require("fs");
const path = require("path");
const app = require(path.join(__dirname, "../../serve/web/app.js"));

const [small, big] = process.argv.slice(2).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
let failed = 0;
function test(name, fn) {
  try { fn(); console.log("ok   " + name); } catch (e) { failed++; console.log("FAIL " + name + "\n" + e.stack); }
}
const byName = (t, name) => { for (let i = 0; i < t.n; i++) if (app.nodeName(t, i) === name) return i; return -1; };

test("tree and layout", () => {
  const t = app.treeFromApi(small);
  assert.strictEqual(t.value[0], 470e6);
  const main = byName(t, "main"), work = byName(t, "work"), spin = byName(t, "spin"), other = byName(t, "other");
  assert.strictEqual(t.parent[spin], work);
  assert.strictEqual(t.parent[work], main);
  assert.strictEqual(t.depth[spin], 4);
  assert.strictEqual(t.value[work], 350e6);
  assert.strictEqual(t.self[work], 50e6);
  assert.strictEqual(t.kind[other], app.KIND.KERNEL);
  // children side by side inside their parent
  assert.strictEqual(t.x[work], t.x[main]);
  assert.strictEqual(t.x[other], t.x[work] + t.value[work]);
  assert.strictEqual(t.end[main], other + 1);
  assert.strictEqual(t.maxDepth, 4);
});

test("not preorder in, preorder out", () => {
  const strings = ["", "all", "a", "b"];
  const t = app.makeTree(strings, { name: [3, 1, 2], parent: [2, -1, 1], total: [5, 5, 5], self: [5, 0, 0] });
  assert.deepStrictEqual([...t.name], [1, 2, 3]);
  assert.deepStrictEqual([...t.parent], [-1, 0, 1]);
  assert.throws(() => app.makeTree(strings, { name: [1, 2], parent: [1, 0], total: [1, 1], self: [0, 0] }));
});

test("search counts each sample once", () => {
  // work contains spin: a regex matching both covers work's value only
  const t = app.treeFromApi(small);
  const s = app.searchTree(t, /^(work|spin)$/);
  assert.strictEqual(s.count, 2);
  assert.strictEqual(s.value, 350e6);
  assert.strictEqual(app.searchTree(t, /nothing/).value, 0);
  assert.ok(Math.abs(app.searchTree(t, /main|sh/).share - 1) < 1e-12);
});

test("a name two libraries define is told apart in the top table", () => {
  const strings = ["", "all", "p", "hash", "/usr/lib/libA.so.1", "/opt/b/libB.so", "main"];
  const t = app.makeTree(strings, {
    name: [1, 2, 3, 3, 6], lib: [0, 0, 4, 5, 0], kind: [0, 1, 3, 3, 3], parent: [-1, 0, 1, 1, 1],
    total: [6, 6, 3, 2, 1], self: [0, 0, 3, 2, 1],
  });
  const labels = app.topFunctions(t).rows.map((r) => r.label).sort();
  assert.deepStrictEqual(labels, ["hash (libA.so.1)", "hash (libB.so)", "main"]);
});

test("recursion in the top table and sandwich", () => {
  const strings = ["", "all", "p", "f", "g"];
  // all > p > f > f > g ; p > g
  const t = app.makeTree(strings, {
    name: [1, 2, 3, 3, 4, 4], kind: [0, 1, 3, 3, 3, 3], parent: [-1, 0, 1, 2, 3, 1],
    total: [10, 10, 6, 4, 4, 4], self: [0, 0, 2, 0, 4, 4],
  });
  const top = app.topFunctions(t);
  const f = top.rows.find((r) => r.name === "f"), g = top.rows.find((r) => r.name === "g");
  assert.strictEqual(f.total, 6); // not 10
  assert.strictEqual(f.self, 2);
  assert.strictEqual(g.total, 8);
  assert.strictEqual(g.self, 8);
  const s = app.sandwich(t, top.keyOf, g.index);
  assert.strictEqual(s.callers.value[0], 8);
  // callers of g: f (4, itself under f) and p directly (4)
  const cf = byName(s.callers, "f"), cp = s.callers.parent.findIndex((p, i) => p === 0 && app.nodeName(s.callers, i) === "p");
  assert.strictEqual(s.callers.value[cf], 4);
  assert.strictEqual(s.callers.value[cp], 4);
  const sf = app.sandwich(t, top.keyOf, f.index);
  assert.strictEqual(sf.callees.value[0], 6);
  assert.strictEqual(sf.callees.value[byName(sf.callees, "g")], 4);
});

test("diff: new nodes and relative change", () => {
  const base = app.treeFromApi(small);
  const d2 = JSON.parse(JSON.stringify(small));
  // a second capture: "fresh" under main, only there
  d2.strings.push("fresh");
  const main = d2.nodes.name.indexOf(d2.strings.indexOf("main"));
  for (const k of Object.keys(d2.nodes)) d2.nodes[k].push({ name: d2.strings.length - 1, parent: main, total: 100e6, self: 100e6 }[k] || 0);
  d2.nodes.kind[d2.nodes.kind.length - 1] = 3;
  for (let p = main; p >= 0; p = d2.nodes.parent[p]) d2.nodes.total[p] += 100e6;
  const now = app.treeFromApi(d2);
  const diff = app.diffTrees(base, now);
  const fresh = byName(now, "fresh");
  assert.strictEqual(diff.match[fresh], -1);
  assert.strictEqual(diff.change[fresh], Infinity);
  const spin = byName(now, "spin");
  assert.ok(diff.change[spin] < 0, "spin's share went down");
  const rows = app.diffTable(base, now);
  assert.strictEqual(rows[0].name, "fresh");
  assert.ok(rows[0].added);
});

test("folded and speedscope", () => {
  const t = app.treeFromApi(small);
  const folded = app.toFolded(t).trim().split("\n").sort();
  assert.deepStrictEqual(folded, ["app;main;other_[k] 100000000", "app;main;work 50000000",
    "app;main;work;spin 300000000", "sh;0x1234 20000000"]);
  const ss = app.toSpeedscope(t, "x");
  assert.strictEqual(ss.profiles[0].type, "sampled");
  assert.strictEqual(ss.profiles[0].unit, "nanoseconds");
  assert.strictEqual(ss.profiles[0].samples.length, ss.profiles[0].weights.length);
  assert.strictEqual(ss.profiles[0].endValue, 470e6);
  for (const s of ss.profiles[0].samples) for (const f of s) assert.ok(ss.shared.frames[f].name);
});

test("100,000 nodes: layout, search and top table in time", () => {
  let t0 = Date.now();
  const t = app.treeFromApi(big);
  const build = Date.now() - t0;
  assert.ok(t.n >= 100000, "nodes: " + t.n);
  t0 = Date.now();
  app.searchTree(t, /fn_3_/);
  const top = app.topFunctions(t);
  const rest = Date.now() - t0;
  t0 = Date.now();
  app.sandwich(t, top.keyOf, top.rows[0].index);
  const sw = Date.now() - t0;
  console.log("     " + t.n + " nodes: tree " + build + " ms, search+top " + rest + " ms, sandwich " + sw + " ms");
  assert.ok(build < 2000 && rest < 2000 && sw < 3000);
});

process.exit(failed ? 1 : 0);
