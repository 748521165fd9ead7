/**
 * Driving the web app in headless Chromium (Debian's `chromium` package, through
 * puppeteer-core; no browser is ever downloaded): launching it on the built app, filling the
 * form, catching downloads and console errors.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { serveStatic } from "../../src/cli/commands/serve.js";
import { REPO_ROOT } from "./paths.js";

/** The little of the DOM that the functions run in the page use (tests compile without it). */
interface PageElement {
  id: string;
  textContent: string | null;
  classList: { contains(name: string): boolean };
  type?: string;
  value: string;
  checked: boolean;
  dispatchEvent(event: unknown): boolean;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  activeElement: PageElement | null;
};
declare const Event: new (type: string, init: { bubbles: boolean }) => unknown;

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const WEB_APP = join(REPO_ROOT, "dist/web");

/** Why the browser suite cannot run here, or undefined when it can. */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  return `no browser at ${CHROMIUM}: install Debian's chromium package (apt-get install chromium) to run the browser suite`;
}

export class AppSession {
  /** Console errors and uncaught exceptions of the page so far. */
  readonly errors: string[] = [];
  readonly warnings: string[] = [];
  private readonly downloads = new Map<string, (path: string) => void>();
  private readonly started: Promise<string>[] = [];

  private constructor(
    readonly browser: Browser,
    readonly server: Server,
    readonly url: string,
    private readonly profile: string,
    readonly downloadDir: string,
  ) {}

  static async start(): Promise<AppSession> {
    if (!existsSync(join(WEB_APP, "index.html"))) {
      throw new Error(`${WEB_APP} is missing: run npm run build:web first`);
    }
    const { server, url } = await serveStatic(WEB_APP, 0, "127.0.0.1");
    const profile = mkdtempSync(join(tmpdir(), "coreml-optimize-chromium-"));
    const downloadDir = mkdtempSync(join(tmpdir(), "coreml-optimize-downloads-"));
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
      ],
    });
    const cdp = await browser.target().createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", {
      behavior: "allowAndName",
      downloadPath: downloadDir,
      eventsEnabled: true,
    });
    const session = new AppSession(browser, server, url, profile, downloadDir);
    cdp.on("Browser.downloadWillBegin", ({ guid }) => {
      session.started.push(new Promise((resolve) => session.downloads.set(guid, resolve)));
    });
    cdp.on("Browser.downloadProgress", ({ guid, state }) => {
      if (state === "completed") session.downloads.get(guid)?.(join(downloadDir, guid));
    });
    return session;
  }

  /** A new tab on the app (or on `url`), its console errors and warnings recorded. */
  async open(url = this.url): Promise<Page> {
    const page = await this.browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    page.on("console", (message) => {
      const text = `${message.type()}: ${message.text()}`;
      if (message.type() === "error") this.errors.push(text);
      if (message.type() === "warn") this.warnings.push(text);
    });
    page.on("pageerror", (error) => this.errors.push(`uncaught: ${(error as Error).message}`));
    await page.goto(url);
    return page;
  }

  /** Runs `click` and resolves to the bytes of the download it starts. */
  async download(click: () => Promise<void>): Promise<Uint8Array> {
    const count = this.started.length;
    await click();
    for (let waited = 0; this.started.length === count; waited += 20) {
      if (waited > 10_000) throw new Error("no download started");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const path = await this.started[count];
    return new Uint8Array(readFileSync(path));
  }

  async close(): Promise<void> {
    await this.browser.close();
    await new Promise((resolve) => this.server.close(resolve));
    rmSync(this.profile, { recursive: true, force: true });
    rmSync(this.downloadDir, { recursive: true, force: true });
  }
}

/** Waits until `selector`'s text matches `done`; fails with the text if it shows an error. */
export async function waitForStatus(page: Page, selector: string, done: RegExp): Promise<string> {
  const handle = await page.waitForFunction(
    (sel: string, source: string) => {
      const element = document.querySelector(sel);
      const text = element?.textContent ?? "";
      if (element?.classList.contains("error")) return `error: ${text}`;
      return new RegExp(source).test(text) ? text : false;
    },
    { timeout: 60_000 },
    selector,
    done.source,
  );
  const text = (await handle.jsonValue()) as string;
  if (text.startsWith("error: ")) throw new Error(`${selector}: ${text.slice(7)}`);
  return text;
}

/** Sets form fields by name: selects, inputs and check boxes, as a user's edits would. */
export async function fillForm(
  page: Page,
  values: Record<string, string | boolean>,
): Promise<void> {
  for (const [name, value] of Object.entries(values)) {
    if (name === "family") {
      await page.click(`input[name="family"][value="${value}"]`);
      continue;
    }
    await page.$eval(
      `[name="${name}"]`,
      (element, v) => {
        const field = element as unknown as PageElement;
        if (field.type === "checkbox") field.checked = v as boolean;
        else field.value = String(v);
        field.dispatchEvent(new Event("input", { bubbles: true }));
        field.dispatchEvent(new Event("change", { bubbles: true }));
      },
      value,
    );
  }
}

/** Presses Tab until `id` has the focus (at most `limit` times); fails if it never does. */
export async function tabTo(page: Page, id: string, limit = 80): Promise<number> {
  for (let presses = 1; presses <= limit; presses++) {
    await page.keyboard.press("Tab");
    if ((await page.evaluate(() => document.activeElement?.id)) === id) return presses;
  }
  throw new Error(`#${id} never got the focus in ${limit} tabs`);
}

/** Drops files or folders (by path) on `selector`, as dragging them from the desktop would. */
export async function dropPaths(page: Page, selector: string, paths: string[]): Promise<void> {
  const box = (await (await page.$(selector))!.boundingBox())!;
  const at = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  const data = { items: [], files: paths, dragOperationsMask: 1 };
  const cdp = await page.createCDPSession();
  for (const type of ["dragEnter", "dragOver", "drop"] as const) {
    await cdp.send("Input.dispatchDragEvent", { type, ...at, data });
  }
  await cdp.detach();
}
