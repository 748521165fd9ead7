/**
 * `coreml-optimize serve`: serves the built web app on this machine, files only from its
 * folder, and says so in one line when it cannot.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import test from "node:test";
import { runCli } from "../support/cli.js";
import { REPO_ROOT } from "../support/paths.js";

/** GET (or HEAD) of a raw path, as sent (no normalization of `..`). */
function get(url: string, path: string, method = "GET") {
  return new Promise<{ status: number; type?: string; body: string }>((resolve, reject) => {
    const req = request(new URL(url), { path, method }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode!, type: response.headers["content-type"], body }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

test("serve hands out the app's files and nothing outside them", async () => {
  const child = spawn(process.execPath, [
    join(REPO_ROOT, "dist/src/cli/main.js"),
    "serve",
    "--port",
    "0",
  ]);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (line: string) => {
        const match = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(line);
        if (match) resolve(match[1]);
      });
      child.on("exit", (code) => reject(new Error(`serve exited with ${code}`)));
    });
    const page = await get(url, "/");
    assert.equal(page.status, 200);
    assert.equal(page.type, "text/html; charset=utf-8");
    assert.match(page.body, /Nothing is uploaded/);
    const script = await get(url, "/job-worker.js", "HEAD");
    assert.equal(script.status, 200);
    assert.equal(script.type, "text/javascript; charset=utf-8");
    assert.equal((await get(url, "/no-such-file.js")).status, 404);
    assert.equal((await get(url, "/..%2f..%2fpackage.json")).status, 404);
    assert.equal((await get(url, "/", "POST")).status, 405);
  } finally {
    child.kill();
  }
});

test("a port in use is a one-line error", async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  const { port } = blocker.address() as { port: number };
  try {
    const result = runCli("serve", "--port", String(port));
    assert.equal(result.status, 1);
    assert.equal(
      result.stderr,
      `coreml-optimize: port ${port} is in use: choose another with --port\n`,
    );
  } finally {
    blocker.close();
  }
});
