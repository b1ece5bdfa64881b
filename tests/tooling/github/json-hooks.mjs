// Node module hooks: @actions/workflow-parser (0.3.61) does `import X from "./file.json"` without the
// `with { type: "json" }` attribute (it is built for bundlers), which plain Node 20+ refuses with
// ERR_IMPORT_ASSERTION_TYPE_MISSING. This resolve hook adds the attribute to .json imports.
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (result.url.endsWith(".json")) {
    return { ...result, importAttributes: { ...(result.importAttributes ?? {}), type: "json" } };
  }
  return result;
}
