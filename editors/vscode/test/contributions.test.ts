// The manifest's contributions point at files that exist, and the prompt grammar matches template
// spans: `npm test`.
import { strict as assert } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";

const root = join(__dirname, "..", "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const grammarPath = join(root, "syntaxes", "template.injection.tmLanguage.json");
const grammar = JSON.parse(readFileSync(grammarPath, "utf8"));

test("schemas contributed to the YAML and TOML extensions exist in the repository", () => {
  const urls = [...manifest.contributes.yamlValidation, ...manifest.contributes.tomlValidation].map((v) => v.url);
  assert.ok(urls.includes("./schemas/config.schema.json"), JSON.stringify(urls));
  const build = readFileSync(join(root, "build.mjs"), "utf8");
  for (const url of urls) {
    assert.ok(existsSync(join(root, "..", "..", "schemas", basename(url))), url);
    assert.ok(build.includes(basename(url)), `build.mjs copies ${url}`);
  }
});

test("the prompt grammar is injected into YAML and packaged", () => {
  const [g] = manifest.contributes.grammars;
  assert.equal(g.scopeName, grammar.scopeName);
  assert.deepEqual(g.injectTo, ["source.yaml"]);
  assert.ok(existsSync(join(root, g.path)));
  assert.match(readFileSync(join(root, ".vscodeignore"), "utf8"), /^!syntaxes\/\*\.json$/m);
});

test("the unknown modifier is declared and mapped to an 'invalid' scope", () => {
  assert.deepEqual(manifest.contributes.semanticTokenModifiers.map((m: { id: string }) => m.id), ["unknown"]);
  const scopes = manifest.contributes.semanticTokenScopes[0].scopes;
  assert.match(scopes["*.unknown"][0], /^invalid\./);
  assert.match(scopes.macro[0], /^punctuation\.section\.embedded\./, "delimiters look as the grammar colours them");
});

/** The scope names the `inside` patterns give the pieces of `text` (first match wins, left to right). */
function insideScopes(text: string): string[] {
  const patterns = grammar.repository.inside.patterns as { match: string; name?: string; captures?: Record<string, { name: string }> }[];
  const out: string[] = [];
  let at = 0;
  while (at < text.length) {
    let best: { index: number; m: RegExpExecArray; p: (typeof patterns)[number] } | undefined;
    for (const p of patterns) {
      const re = new RegExp(p.match, "g");
      re.lastIndex = at;
      const m = re.exec(text);
      if (m && (!best || m.index < best.index)) best = { index: m.index, m, p };
    }
    if (!best) break;
    if (best.p.name) out.push(`${best.m[0]}=${best.p.name}`);
    for (const [group, c] of Object.entries(best.p.captures ?? {})) {
      if (best.m[Number(group)] && !c.name.startsWith("punctuation")) out.push(`${best.m[Number(group)]}=${c.name}`);
    }
    at = best.index + best.m[0].length;
  }
  return out;
}

test("inside a template span: references, filters and keywords get their scopes", () => {
  assert.deepEqual(insideScopes(" for x in steps.ideas.outputs | lines "), [
    "for=keyword.control.jinja.stepwise",
    "x=variable.other.jinja.stepwise",
    "in=keyword.control.jinja.stepwise",
    "steps=variable.language.steps.stepwise",
    "ideas=entity.name.type.step.stepwise",
    "outputs=variable.other.property.stepwise",
    "|=keyword.operator.filter.jinja.stepwise",
    "lines=support.function.filter.jinja.stepwise",
  ]);
  assert.deepEqual(insideScopes(" inputs.product "), ["inputs=variable.language.inputs.stepwise", "product=variable.parameter.input.stepwise"]);
});

test("template spans begin and end at their delimiters, with whitespace control", () => {
  const expr = grammar.repository.expression;
  const text = "Summarize {{- inputs.product -}} now";
  const begin = new RegExp(expr.begin).exec(text);
  const end = new RegExp(expr.end).exec(text);
  assert.equal(begin?.[0], "{{-");
  assert.equal(end?.[0], "-}}");
  assert.equal(new RegExp(grammar.repository.statement.begin).exec("{% if x %}")?.[0], "{%");
});
