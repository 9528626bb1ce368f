// Bundles the widget into src/actscope/static/ (run by `npm run build`, and by the
// hatch-jupyter-builder hook during `pip install`).
import { build, context } from "esbuild";

const outdir = new URL("../src/actscope/static/", import.meta.url).pathname;
const options = {
  entryPoints: { widget: "src/index.ts" },
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !process.env.ACTSCOPE_NO_MINIFY, // set it to profile the browser with real names
  sourcemap: false,
  outdir,
  // Pages that carry require.js (classic notebook exports, VS Code) must not see an AMD
  // `define`: a UMD dependency would register itself there instead of running.
  define: { "define.amd": "false" },
  loader: { ".css": "css" },
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const ctx = await context(options);
  await ctx.watch();
} else {
  await build(options);
}
