// Validates Kubernetes manifests offline against the schemas of the npm
// packages kubernetes-models (the core and apps APIs) and
// @kubernetes-models/prometheus-operator (PodMonitor...), and prints the
// objects as JSON for the checks tests/unit/deploy-manifests.py makes.
//
//   node k8s-validate.mjs MODULES_DIR FILE...
// MODULES_DIR holds node_modules with both packages and js-yaml. One line
// per object ("ok: ..." or "FAIL: ..."), then a line "JSON: [...]" of every
// object; exits 1 if any object is invalid or has no schema.
import fs from 'fs';
import path from 'path';
import { createRequire } from 'module';

const [dir, ...files] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(dir), 'node_modules') + '/');
const yaml = require('js-yaml');
const all = [];
let bad = 0;

// kubernetes-models loads with require; the prometheus-operator package
// is ESM only (its exports give no require path): its index.js, imported
async function model(spec, kind) {
  try {
    const m = require(spec);
    if (m[kind]) return m[kind];
  } catch (e) { /* not a CommonJS path */ }
  try {
    return (await import(path.join(path.resolve(dir), 'node_modules', spec, 'index.js')))[kind];
  } catch (e) {
    return undefined;
  }
}

for (const file of files) {
  for (const d of yaml.loadAll(fs.readFileSync(file, 'utf8')).filter(Boolean)) {
    all.push(d);
    const [group, version] = d.apiVersion.includes('/') ? d.apiVersion.split('/') : ['', d.apiVersion];
    const spec = group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${d.apiVersion}`
      : `kubernetes-models/${group ? group + '/' : ''}${version}`;
    const Model = await model(spec, d.kind);
    const what = `${path.basename(file)}: ${d.kind} ${d.metadata && d.metadata.name}`;
    if (!Model) { console.log(`FAIL: ${what}: no schema for ${d.apiVersion} ${d.kind}`); bad++; continue; }
    try { new Model(d).validate(); console.log(`ok: ${what} (${d.apiVersion})`); }
    catch (e) { console.log(`FAIL: ${what}: ${e.message}`); bad++; }
  }
}
console.log('JSON: ' + JSON.stringify(all));
process.exit(bad || !all.length ? 1 : 0);
