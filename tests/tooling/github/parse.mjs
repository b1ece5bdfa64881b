// GitHub's own workflow parser (@actions/workflow-parser): schema + expression + structure checks.
// Usage: node parse.mjs NODE_MODULES_DIR WORKFLOW_YAML
// Prints {"ok", "errors": [{message, code, line, column}], "jobs": [{id, needs, type}]}.
// NODE_MODULES_DIR is explicit because ESM `import` ignores NODE_PATH (the packages live in the
// cached env, not beside this file).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { register } from "node:module";

register("./json-hooks.mjs", import.meta.url); // see json-hooks.mjs (JSON imports without attributes)

const [nodeModules, file] = process.argv.slice(2);
if (!nodeModules || !file) {
  console.error("usage: node parse.mjs NODE_MODULES_DIR WORKFLOW_YAML");
  process.exit(2);
}
const wp = await import(pathToFileURL(join(nodeModules, "@actions/workflow-parser/dist/index.js")).href);

const content = readFileSync(file, "utf8");
const trace = new wp.NoOperationTraceWriter();
const result = wp.parseWorkflow({ name: file, content }, trace);
const errors = [];
const fmt = (e) => ({
  message: e.message ?? String(e),
  code: e.code ?? null,
  line: e.range?.start?.line ?? null,
  column: e.range?.start?.column ?? null,
});
for (const e of result.context.errors.getErrors()) errors.push(fmt(e));
let jobs = [];
if (result.value !== undefined) {
  // conversion adds semantic checks (needs, matrix, job ids, ...) and reports into the same context
  const before = result.context.errors.getErrors().length;
  // ErrorPolicy.TryConversion (=1): convert even after schema errors, to also report e.g. bad `needs`
  const template = await wp.convertWorkflowTemplate(result.context, result.value, undefined, {
    errorPolicy: 1,
  });
  for (const e of result.context.errors.getErrors().slice(before)) errors.push(fmt(e));
  for (const e of template.errors ?? []) {
    const m = e.Message ?? String(e);
    if (!errors.some((x) => x.message === m)) errors.push({ message: m, code: null, line: null, column: null });
  }
  jobs = (template.jobs ?? []).map((j) => ({
    id: j.id?.value ?? null,
    type: j.type,
    needs: (j.needs ?? []).map((n) => n.value),
  }));
} else if (errors.length === 0) {
  errors.push({ message: "parser returned no workflow", code: null, line: null, column: null });
}
process.stdout.write(JSON.stringify({ ok: errors.length === 0, errors, jobs }) + "\n");
