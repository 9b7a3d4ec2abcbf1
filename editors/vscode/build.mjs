// Bundles the extension (esbuild) and copies the JSON schemas it contributes from the repository.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("schemas", { recursive: true });
for (const f of ["workflow.schema.json", "persona.schema.json", "config.schema.json"]) copyFileSync(`../../schemas/${f}`, `schemas/${f}`);

await build({
  entryPoints: ["src/extension.ts"],
  bundle: true,
  outfile: "dist/extension.js",
  external: ["vscode"],
  format: "cjs",
  platform: "node",
  target: "node18",
  sourcemap: true,
  minify: process.argv.includes("--minify"),
  logLevel: "info",
});
