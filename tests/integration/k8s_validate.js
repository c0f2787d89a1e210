// Validates Kubernetes manifests offline against the API schemas of npm kubernetes-models.
// (and @kubernetes-models/prometheus-operator for monitoring.coreos.com kinds).
// Usage: NODE_PATH=<dir with node_modules> node k8s_validate.js FILE...
// Every YAML document must have apiVersion, kind and metadata.name, be a kind the models know,
// and pass its schema; prints one line per document and exits 1 on the first invalid one.
"use strict";
const fs = require("fs");
const yaml = require("js-yaml");

const path = require("path");

async function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  let mod;
  try {
    if (group === "monitoring.coreos.com") {
      // The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule) come as an ES module,
      // which NODE_PATH does not resolve: import it by its file.
      const dir = (process.env.NODE_PATH || "").split(path.delimiter)[0];
      mod = await import(path.join(dir, "@kubernetes-models/prometheus-operator", group, version, "index.js"));
    } else {
      mod = require(group === "" ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`);
    }
  } catch (e) {
    throw new Error(`unknown apiVersion ${apiVersion}`);
  }
  if (!mod[kind]) throw new Error(`unknown kind ${kind} in ${apiVersion}`);
  return mod[kind];
}

let count = 0;
let failed = false;
(async () => {
for (const file of process.argv.slice(2)) {
  let docs;
  try {
    docs = yaml.loadAll(fs.readFileSync(file, "utf8"));
  } catch (e) {
    console.log(`${file}: YAML error: ${e.message}`);
    failed = true;
    continue;
  }
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    const where = `${file}: ${doc.kind}/${doc.metadata && doc.metadata.name}`;
    try {
      if (!doc.apiVersion || !doc.kind || !doc.metadata || !doc.metadata.name) throw new Error("apiVersion, kind and metadata.name are required");
      const Model = await modelFor(doc.apiVersion, doc.kind);
      new Model(doc).validate();
      count++;
      console.log(`ok ${where}`);
    } catch (e) {
      failed = true;
      console.log(`INVALID ${where}: ${e.message}`);
    }
  }
}
console.log(`${count} manifests valid`);
process.exit(failed || count === 0 ? 1 : 0);
})();
