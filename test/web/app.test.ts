/**
 * The web app in a real browser (headless Chromium): open models, compress them with each
 * method, and check that what the page downloads is byte for byte what the CLI writes for the
 * same config; the keyboard path, cancelling, comparing outputs, working offline, and no
 * console errors. Screenshots land in dist/screenshots. Skipped, saying why, without Chromium.
 * Each CLI run starts before the page's and runs beside it.
 */
import assert from "node:assert/strict";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { unzipSync } from "fflate";
import type { Page } from "puppeteer-core";
import { serveStatic } from "../../src/cli/commands/serve.js";
import {
  AppSession,
  browserMissing,
  dropPaths,
  fillForm,
  tabTo,
  waitForStatus,
  WEB_APP,
} from "../support/browser.js";
import { startCli } from "../support/cli.js";
import { readTree } from "../support/files.js";
import { FIXTURES, REPO_ROOT, SHARED } from "../support/paths.js";

const PACKAGE = join(FIXTURES, "golden/bases/zoo_fp16_ios18.mlpackage");
const NEURAL = join(FIXTURES, "golden/bases/nn.mlmodel");
const SCREENSHOTS = join(REPO_ROOT, "dist/screenshots");

type Files = Map<string, Uint8Array>;
type Form = Record<string, string | boolean>;

let app: AppSession;
let scratch: string;
let runs = 0;

/** The files of a downloaded zip, by path inside the package folder it holds. */
function unzipPackage(zip: Uint8Array, folder: string): Files {
  const files: Files = new Map();
  for (const [path, bytes] of Object.entries(unzipSync(zip))) {
    assert.ok(path.startsWith(`${folder}/`), `${path} is outside ${folder}`);
    if (!path.endsWith("/")) files.set(path.slice(folder.length + 1), bytes);
  }
  return files;
}

function assertSameFiles(page: Files, cli: Files): void {
  assert.deepEqual([...page.keys()].sort(), [...cli.keys()].sort());
  for (const [path, bytes] of cli) {
    const same = Buffer.from(page.get(path)!).equals(Buffer.from(bytes));
    assert.ok(same, `${path} differs from the CLI's`);
  }
}

const isNeural = (path: string) => path.endsWith(".mlmodel");

/** What the CLI writes for `args`, as files by path (an .mlmodel as its one file). */
async function cliFiles(command: string, input: string, args: string[]): Promise<Files> {
  const output = join(scratch, `cli-${++runs}.${isNeural(input) ? "mlmodel" : "mlpackage"}`);
  const result = await startCli(command, input, "-o", output, "-q", ...args);
  assert.equal(result.status, 0, result.stderr);
  return isNeural(input)
    ? new Map([["model.mlmodel", new Uint8Array(readFileSync(output))]])
    : readTree(output);
}

const valueOf = (page: Page, selector: string) =>
  page.$eval(selector, (e) => (e as unknown as { value: string }).value);

/** The config the page runs, as the file the CLI gets. */
async function pageConfig(page: Page): Promise<string> {
  const path = join(scratch, `config-${++runs}.yaml`);
  writeFileSync(path, await valueOf(page, "#config-text"));
  return path;
}

async function openModel(page: Page, path: string): Promise<void> {
  const input = await page.$(isNeural(path) ? "#model-input" : "#package-input");
  await input!.uploadFile(path);
  await waitForStatus(page, "#open-status", /^Opened /);
}

async function compress(page: Page): Promise<void> {
  await page.click("#run");
  await waitForStatus(page, "#run-status", /^Done\.$/);
}

/** The downloaded result, by path inside the package (or an .mlmodel as its one file). */
async function downloadResult(page: Page, input: string, start = () => page.click("#download")) {
  const bytes = await app.download(start);
  const name = basename(input).replace(/\.(mlpackage|mlmodel)$/, "");
  return isNeural(input)
    ? new Map([["model.mlmodel", bytes]])
    : unzipPackage(bytes, `${name}-compressed.mlpackage`);
}

/**
 * Sets the form, then compresses with what it shows, in the page and with the CLI (`compress
 * --config` with the page's YAML, or `quantize-weights` with `neuralFlags`).
 */
async function compressLikeCli(page: Page, input: string, form: Form, neuralFlags?: string[]) {
  await fillForm(page, form);
  let cli: Promise<Files>;
  if (neuralFlags) cli = cliFiles("quantize-weights", input, neuralFlags);
  else {
    const target = await valueOf(page, '[name="target"]');
    const args = ["--config", await pageConfig(page), ...(target ? ["--target", target] : [])];
    cli = cliFiles("compress", input, args);
  }
  await compress(page);
  assertSameFiles(await downloadResult(page, input), await cli);
}

describe("the web app in Chromium", { skip: browserMissing() }, () => {
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "coreml-optimize-app-"));
    mkdirSync(SCREENSHOTS, { recursive: true });
    app = await AppSession.start();
  });

  after(async () => {
    await app?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test("every method gives the CLI's bytes for the same config", async () => {
    const page = await app.open();
    await openModel(page, PACKAGE);
    await page.screenshot({ path: join(SCREENSHOTS, "model.png"), fullPage: true });
    // Linear, with an op-type override leaving the embedding alone.
    await page.click("#add-override");
    await page.type("#overrides tbody tr:last-child .name", "gather");
    // ...and an op-name override giving one linear layer its own settings.
    await page.click("#add-override");
    await page.select("#overrides tbody tr:last-child .by", "op_name");
    assert.equal(
      await page.$eval("#overrides tbody tr:last-child .name", (e) => e.getAttribute("list")),
      "op-names",
    );
    const opNames = await page.$$eval("#op-names option", (options) =>
      options.map((o) => o.getAttribute("value")),
    );
    assert.ok(opNames.includes("fc2_cast_fp16"), opNames.join());
    await page.type("#overrides tbody tr:last-child .name", "fc2_cast_fp16");
    await page.$eval("#overrides tbody tr:last-child .settings", (e) => {
      (e as unknown as { value: string }).value = "";
    });
    await page.type(
      "#overrides tbody tr:last-child .settings",
      "dtype: int8, granularity: per_tensor",
    );
    await compressLikeCli(page, PACKAGE, {
      family: "linear",
      "linear.dtype": "int4",
      "linear.granularity": "per_block",
      "linear.block_size": "16",
    });
    const yaml = await valueOf(page, "#config-text");
    assert.match(yaml, /op_type_configs:\n {2}gather: null\n/);
    assert.match(
      yaml,
      /op_name_configs:\n {2}fc2_cast_fp16: \{ dtype: int8, granularity: per_tensor \}\n/,
    );
    const fc2 = await page.$$eval("#result-weights tbody tr", (rows) =>
      rows.map((row) => (row as unknown as { innerText: string }).innerText),
    );
    assert.ok(
      fc2.some((row) => /^fc2_weight\S*\t.*int8 per-tensor/.test(row)),
      fc2.join("\n"),
    );
    for (const button of await page.$$("#overrides tbody button")) await button.click();
    // Palettization: tensors large enough go to the kernel workers.
    await compressLikeCli(page, PACKAGE, {
      family: "palettize",
      "palettize.nbits": "4",
      "palettize.granularity": "per_grouped_channel",
      "palettize.group_size": "8",
    });
    await page.screenshot({ path: join(SCREENSHOTS, "result.png"), fullPage: true });
    await compressLikeCli(page, PACKAGE, { family: "prune", "prune.target_sparsity": "0.6" });
    await compressLikeCli(page, PACKAGE, {
      family: "prune+linear",
      "prune.method": "n_m",
      "prune.n_m_ratio": "2:4",
      "linear.dtype": "int8",
      "linear.granularity": "per_channel",
    });
    await page.close();
    assert.deepEqual(app.errors, []);
  });

  test("a neural network's quantize-weights gives the CLI's bytes", async () => {
    const page = await app.open();
    await openModel(page, NEURAL);
    const form = { "nn.nbits": "4", "nn.mode": "kmeans_lut" };
    const flags = ["--nbits", "4", "--mode", "kmeans_lut"];
    await fillForm(page, form);
    const line = await page.$eval("#cli-line", (e) => e.textContent ?? "");
    assert.equal(
      line,
      `coreml-optimize quantize-weights nn.mlmodel -o nn-compressed.mlmodel ${flags.join(" ")}`,
    );
    await compressLikeCli(page, NEURAL, form, flags);
    await page.close();
    assert.deepEqual(app.errors, []);
  });

  test("dropped folders and files open, and a folder of several models is refused", async () => {
    const page = await app.open();
    await dropPaths(page, "#drop", [PACKAGE]);
    await waitForStatus(page, "#open-status", /^Opened zoo_fp16_ios18\.mlpackage\.$/);
    assert.equal(await page.$eval("#program-options", (e) => e.hasAttribute("hidden")), false);
    await dropPaths(page, "#drop", [NEURAL]);
    await waitForStatus(page, "#open-status", /^Opened nn\.mlmodel\.$/);
    assert.equal(await page.$eval("#neural-options", (e) => e.hasAttribute("hidden")), false);
    await dropPaths(page, "#drop", [dirname(PACKAGE)]);
    const message = await page.waitForFunction(
      'document.querySelector("#open-status.error")?.textContent',
    );
    assert.match(
      String(await message.jsonValue()),
      /^\d+ models there \(.*\): open one at a time$/,
    );
    await page.close();
    assert.deepEqual(app.errors, []);
  });

  test("the keyboard alone opens, configures, compresses and downloads", async () => {
    const page = await app.open();
    const chooser = page.waitForFileChooser();
    await tabTo(page, "pick-package");
    await page.keyboard.press("Enter");
    await (await chooser).accept([PACKAGE]);
    await waitForStatus(page, "#open-status", /^Opened /);
    // The methods are one radio group: an arrow key moves to the next.
    await page.focus('input[name="family"]:checked');
    await page.keyboard.press("ArrowRight");
    assert.match(await valueOf(page, "#config-text"), /OpPalettizerConfig/);
    const cli = cliFiles("compress", PACKAGE, ["--config", await pageConfig(page)]);
    await tabTo(page, "run");
    await page.keyboard.press("Enter");
    await waitForStatus(page, "#run-status", /^Done\.$/);
    // The result takes the focus, and the download button comes next.
    assert.equal(await page.evaluate("document.activeElement?.id"), "result-title");
    const downloaded = await downloadResult(page, PACKAGE, async () => {
      await tabTo(page, "download", 3);
      await page.keyboard.press("Enter");
    });
    assertSameFiles(downloaded, await cli);
    await page.close();
    assert.deepEqual(app.errors, []);
  });

  test("a run can be cancelled, and outputs compare as the CLI's compare", async () => {
    const page = await app.open();
    await openModel(page, PACKAGE);
    // Cancelled before the worker can answer; the next run finds the model open again.
    await page.evaluate(
      'document.getElementById("run").click(); document.getElementById("cancel").click()',
    );
    await waitForStatus(page, "#run-status", /^Cancelled\.$/);
    await compress(page);
    const saved = join(scratch, `page-${++runs}`, "zoo_fp16_ios18-compressed.mlpackage");
    for (const [path, data] of await downloadResult(page, PACKAGE)) {
      mkdirSync(dirname(join(saved, path)), { recursive: true });
      writeFileSync(join(saved, path), data);
    }
    const cli = startCli("compare", PACKAGE, saved, "--samples", "4", "--json");
    await page.click("#compare");
    await waitForStatus(page, "#compare-status", /^Compared\.$/);
    const rows = await page.$$eval("#compare-table tbody tr", (trs) =>
      trs.map((tr) => (tr as unknown as { innerText: string }).innerText.split("\t")),
    );
    const { status, stdout, stderr } = await cli;
    assert.equal(status, 0, stderr);
    const { outputs } = JSON.parse(stdout) as { outputs: { name: string; snrDb: number }[] };
    assert.deepEqual(
      rows.map((cells) => cells.slice(0, 2)),
      outputs.map((o) => [o.name, o.snrDb.toFixed(1)]),
    );
    await page.close();
    assert.deepEqual(app.errors, []);
  });

  test("the result saves into a folder through the File System Access API", async () => {
    const page = await app.open();
    // The picker is a dialog no test can click through: it hands over the origin's private
    // file system instead, whose folders have the same API.
    await page.evaluate("window.showDirectoryPicker = () => navigator.storage.getDirectory()");
    await openModel(page, PACKAGE);
    const cli = cliFiles("compress", PACKAGE, ["--config", await pageConfig(page)]);
    await compress(page);
    assert.equal(await page.$eval("#save-folder", (e) => e.hasAttribute("hidden")), false);
    await page.click("#save-folder");
    await waitForStatus(page, "#save-status", /^Saved \/?zoo_fp16_ios18-compressed\.mlpackage\.$/);
    // Saving again replaces the folder, once the user agrees.
    let asked = "";
    page.once("dialog", (dialog) => {
      asked = dialog.message();
      void dialog.accept();
    });
    await page.evaluate('document.getElementById("save-status").textContent = ""');
    await page.click("#save-folder");
    await waitForStatus(page, "#save-status", /^Saved /);
    assert.match(asked, /zoo_fp16_ios18-compressed\.mlpackage exists\. Replace it\?$/);
    const saved = (await page.evaluate(`(async () => {
      const files = [];
      const walk = async (dir, prefix) => {
        for await (const [name, handle] of dir.entries()) {
          if (handle.kind === "directory") await walk(handle, prefix + name + "/");
          else files.push([prefix + name, [...new Uint8Array(await (await handle.getFile()).arrayBuffer())]]);
        }
      };
      const root = await navigator.storage.getDirectory();
      await walk(await root.getDirectoryHandle("zoo_fp16_ios18-compressed.mlpackage"), "");
      return files;
    })()`)) as [string, number[]][];
    assertSameFiles(
      new Map(saved.map(([path, bytes]) => [path, Uint8Array.from(bytes)])),
      await cli,
    );
    await page.close();
    assert.deepEqual(app.errors, []);
  });

  test("the app opens and works offline once loaded", async () => {
    const page = await app.open();
    await page.evaluate("navigator.serviceWorker.ready.then(() => true)");
    await page.setOfflineMode(true);
    await page.reload();
    await openModel(page, PACKAGE);
    await compress(page);
    await page.setOfflineMode(false);
    await page.close();
    assert.deepEqual(app.errors, []);
  });

  test("without the kernel workers' script, the page still compresses, after a warning", async () => {
    // A copy of the app without web-worker.js, on a server (and so an origin) of its own.
    const copy = join(scratch, "app-without-workers");
    cpSync(WEB_APP, copy, { recursive: true });
    rmSync(join(copy, "web-worker.js"));
    const { server, url } = await serveStatic(copy, 0, "127.0.0.1");
    const page = await app.open(url);
    try {
      await openModel(page, PACKAGE);
      // k-means of the 100 K-element weights goes to the pool, whose workers cannot start.
      await compressLikeCli(page, PACKAGE, { family: "palettize", "palettize.nbits": "2" });
      const warnings = app.warnings.filter((w) => /could not start/.test(w));
      assert.equal(warnings.length, 1, app.warnings.join("\n"));
      assert.match(warnings[0], /running kernels on the calling thread/);
      const errors = app.errors.splice(0);
      assert.ok(
        errors.every((e) => /web-worker\.js|404/.test(e)),
        errors.join("\n"),
      );
    } finally {
      await page.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test(
    "the shared real models compress in the page as with the CLI",
    { skip: !SHARED },
    async () => {
      const models: [string, Form, string[]?][] = [
        ["dtln_aec_128_fp16/DTLN_AEC_128_Part2.mlpackage", { family: "linear" }],
        ["mnist_mlprogram_drawmnist/MNIST.mlpackage", { family: "palettize" }],
        [
          "apple_squeezenet_fp16/SqueezeNetFP16.mlmodel",
          { "nn.nbits": "8", "nn.mode": "linear" },
          ["--nbits", "8", "--mode", "linear"],
        ],
      ];
      for (const [path, form, neuralFlags] of models) {
        const input = join(SHARED!, "models", path);
        if (!existsSync(input)) continue;
        const page = await app.open();
        await openModel(page, input);
        await compressLikeCli(page, input, form, neuralFlags);
        await page.close();
      }
      assert.deepEqual(app.errors, []);
    },
  );
});
