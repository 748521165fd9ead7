/**
 * `coreml-optimize serve`: serves the web app (dist/web, built by `npm run build:web`) on this
 * machine, so a browser can compress models in a page; models never leave the browser.
 */
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { CoreMLOptimizeError } from "../../errors.js";
import { parseInteger } from "../flags.js";

/** The built app, beside the compiled CLI (dist/src/cli/commands → dist/web). */
export const WEB_APP = fileURLToPath(new URL("../../../web/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".wasm": "application/wasm",
};

/** The file under `root` a URL path names (index.html for folders), or undefined outside it. */
async function fileFor(root: string, urlPath: string): Promise<string | undefined> {
  let path: string;
  try {
    path = resolve(root, `.${decodeURIComponent(urlPath)}`);
  } catch {
    return undefined;
  }
  if (path !== root && !path.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) return fileFor(root, `${urlPath.replace(/\/?$/, "/")}index.html`);
  return info?.isFile() ? path : undefined;
}

/** Starts serving the files of `root` (GET and HEAD only); resolves once listening. */
export async function serveStatic(
  root: string,
  port: number,
  host: string,
): Promise<{ server: Server; url: string }> {
  const base = resolve(root);
  const server = createServer(async (request, response) => {
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    const urlPath = new URL(request.url ?? "/", "http://localhost").pathname;
    const file = await fileFor(base, urlPath);
    if (!file) {
      response.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    const body = await readFile(file);
    response.writeHead(200, {
      "Content-Type": TYPES[extname(file)] ?? "application/octet-stream",
      "Content-Length": body.length,
      // Always checked with the server while it runs; the app's service worker serves offline.
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
    response.end(request.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((done, fail) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      fail(
        error.code === "EADDRINUSE"
          ? new CoreMLOptimizeError(`port ${port} is in use: choose another with --port`)
          : error,
      ),
    );
    server.listen(port, host, done);
  });
  const address = server.address();
  const actual = typeof address === "object" && address ? address.port : port;
  return { server, url: `http://${host.includes(":") ? `[${host}]` : host}:${actual}/` };
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("serve the web app, to compress models in a browser (nothing is uploaded)")
    .option("--port <n>", "port to listen on (0: any free port)", "8080")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .action(async (flags: { port: string; host: string }) => {
      const port = parseInteger(flags.port, "--port");
      if (port > 65535) throw new CoreMLOptimizeError(`--port: expected 0 to 65535, got ${port}`);
      if (!existsSync(join(WEB_APP, "index.html"))) {
        throw new CoreMLOptimizeError(
          `the web app is not built (no ${WEB_APP}index.html): run npm run build:web`,
        );
      }
      const { url } = await serveStatic(WEB_APP, port, flags.host);
      process.stdout.write(`serving the web app at ${url} (Ctrl-C to stop)\n`);
    });
}
