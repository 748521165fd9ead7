// Builds the web app (web/) into a folder of static files, dist/web: the page script, the
// worker that runs the library, the kernel workers' script, a service worker that keeps them
// all for offline use, and the page and its style sheet as they are.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

const OUT = "dist/web";
const common = {
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
};

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
await build({
  ...common,
  entryPoints: {
    app: "web/main.ts",
    "job-worker": "web/job-worker.ts",
    // Beside job-worker.js, where its pool's `new URL("./web-worker.js", import.meta.url)` looks.
    "web-worker": "src/parallel/web-worker.ts",
  },
  outdir: OUT,
});
for (const file of ["index.html", "style.css"]) copyFileSync(join("web", file), join(OUT, file));

const files = ["index.html", "style.css", "app.js", "job-worker.js", "web-worker.js"];
const hash = createHash("sha256");
for (const file of files) hash.update(readFileSync(join(OUT, file)));
await build({
  ...common,
  entryPoints: { sw: "web/sw.ts" },
  outdir: OUT,
  define: {
    APP_FILES: JSON.stringify(["./", ...files]),
    CACHE_NAME: JSON.stringify(`coreml-optimize-${hash.digest("hex").slice(0, 12)}`),
  },
});
console.log(`built ${OUT}: ${[...files, "sw.js"].join(", ")}`);
