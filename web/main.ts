/**
 * The page: open a model, see it, pick a compression, run it (in job-worker.ts, which the
 * cancel button ends), see and save the result, compare outputs.
 */
import type { ModelSummary } from "../src/browser.js";
import { h, byId } from "./dom.js";
import {
  commandLine,
  configYaml,
  FAMILIES,
  fillChoices,
  FormFields,
  neuralSettings,
  stepLabels,
  type Override,
} from "./form.js";
import { fromDrop, fromInput, type PickedModel } from "./open.js";
import type { FileList, Job, Reply, Request } from "./protocol.js";
import { canSaveToFolder, download, saveToFolder, zipPackage } from "./save.js";
import { comparisonTable, modelView, resultSummary, weightsChart, weightsTable } from "./views.js";

class Cancelled extends Error {}

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
  onProgress?: (reply: Extract<Reply, { type: "progress" }>) => void;
  /** A request the page did not make itself (reopening the model after a cancel). */
  quiet?: boolean;
}

const ignore = () => {};

/**
 * The worker that runs the library. It answers requests in the order they come; cancelling
 * ends it, starts another and reopens the model there, so the next request finds it open.
 */
class Jobs {
  private worker = this.start();
  private readonly waiting: Pending[] = [];
  private lastOpen?: Request;

  private start(): Worker {
    const worker = new Worker(new URL("./job-worker.js", import.meta.url), { type: "module" });
    worker.addEventListener("message", ({ data }: MessageEvent<Reply>) => {
      if (data.type === "progress") return this.waiting[0]?.onProgress?.(data);
      const pending = this.waiting.shift();
      if (data.type === "failed") pending?.reject(new Error(data.message));
      else pending?.resolve(data);
    });
    worker.addEventListener("error", (event) => {
      const message = event.message || "the app's worker script did not load";
      for (const pending of this.waiting.splice(0)) pending.reject(new Error(message));
    });
    return worker;
  }

  get busy(): boolean {
    return this.waiting.some((pending) => !pending.quiet);
  }

  send<T extends Reply["type"]>(
    request: Request,
    onProgress?: (reply: Extract<Reply, { type: "progress" }>) => void,
  ): Promise<Extract<Reply, { type: T }>> {
    if (request.type === "open") this.lastOpen = request;
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve: resolve as (reply: Reply) => void, reject, onProgress });
      this.worker.postMessage(request);
    });
  }

  cancel(): void {
    this.worker.terminate();
    for (const pending of this.waiting.splice(0)) pending.reject(new Cancelled("cancelled"));
    this.worker = this.start();
    if (this.lastOpen) {
      this.waiting.push({ resolve: ignore, reject: ignore, quiet: true });
      this.worker.postMessage(this.lastOpen);
    }
  }
}

const jobs = new Jobs();
const form = byId<HTMLFormElement>("config-form");
const fields = new FormFields(form);
const configText = byId<HTMLTextAreaElement>("config-text");
const overridesBody = byId("overrides").querySelector("tbody")!;
fillChoices(form);

let model: PickedModel | undefined;
let result: { files: FileList; name: string } | undefined;
/** Whether the YAML was edited by hand: it runs as it is, and the form no longer rewrites it. */
let handEdited = false;

function say(id: string, text: string, isError = false): void {
  const status = byId(id);
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// Opening a model.

async function open(pick: () => Promise<PickedModel>): Promise<void> {
  if (jobs.busy) jobs.cancel();
  say("open-status", "Reading the model…");
  try {
    const picked = await pick();
    const opened = await jobs.send<"opened">({
      type: "open",
      name: picked.name,
      files: picked.files,
    });
    model = picked;
    result = undefined;
    showModel(picked, opened.size, opened.summary);
    say("open-status", `Opened ${picked.name}.${picked.kind}.`);
  } catch (error) {
    say("open-status", (error as Error).message, true);
  }
}

function showModel(picked: PickedModel, size: number, summary: ModelSummary): void {
  byId("model-view").replaceChildren(modelView(`${picked.name}.${picked.kind}`, size, summary));
  const opTypes = new Set(summary.functions.flatMap((f) => Object.keys(f.opCounts)));
  opTypes.delete("const");
  // Consumers read "type name": op_name_configs takes the name.
  const opNames = new Set(
    summary.weights.flatMap((w) => [
      w.name,
      ...w.consumers.map((c) => c.slice(c.indexOf(" ") + 1)),
    ]),
  );
  byId("op-types").replaceChildren(...[...opTypes].sort().map((value) => h("option", { value })));
  byId("op-names").replaceChildren(...[...opNames].sort().map((value) => h("option", { value })));
  const neural = picked.kind === "mlmodel";
  byId("program-options").hidden = neural;
  byId("neural-options").hidden = !neural;
  // Compressed weights need iOS16 (constexpr ops): older ML programs are raised to it.
  const target = form.elements.namedItem("target") as HTMLSelectElement;
  target.value = !neural && summary.specificationVersion < 7 ? "iOS16" : "";
  byId("model").hidden = false;
  byId("compress").hidden = false;
  byId("result").hidden = true;
  say("run-status", "");
  refresh();
}

const packageInput = byId<HTMLInputElement>("package-input");
const modelInput = byId<HTMLInputElement>("model-input");
byId("pick-package").addEventListener("click", () => packageInput.click());
byId("pick-model").addEventListener("click", () => modelInput.click());
for (const input of [packageInput, modelInput]) {
  input.addEventListener("change", () => {
    const files = [...(input.files ?? [])];
    input.value = "";
    if (files.length > 0) void open(() => fromInput(files));
  });
}
const drop = byId("drop");
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const transfer = event.dataTransfer;
  if (transfer) void open(() => fromDrop(transfer));
});

// The form.

function readOverrides(): Override[] {
  return [...overridesBody.rows].map((row) => ({
    step: Number(row.querySelector<HTMLSelectElement>(".step")!.value),
    by: row.querySelector<HTMLSelectElement>(".by")!.value as Override["by"],
    name: row.querySelector<HTMLInputElement>(".name")!.value.trim(),
    settings: row.querySelector<HTMLInputElement>(".settings")!.value,
  }));
}

let overrideCount = 0;
function addOverride(): void {
  const n = ++overrideCount;
  const steps = stepLabels(fields.family());
  const name = h("input", {
    class: "name",
    type: "text",
    list: "op-types",
    "aria-label": `Override ${n}: op type or name`,
    required: true,
  });
  const by = h(
    "select",
    { class: "by", "aria-label": `Override ${n}: by` },
    h("option", { value: "op_type" }, "op type"),
    h("option", { value: "op_name" }, "op name"),
  );
  by.addEventListener("change", () =>
    name.setAttribute("list", by.value === "op_type" ? "op-types" : "op-names"),
  );
  const remove = h("button", { type: "button", "aria-label": `Remove override ${n}` }, "Remove");
  const row = h(
    "tr",
    {},
    h(
      "td",
      { "data-joint-only": true },
      h(
        "select",
        { class: "step", "aria-label": `Override ${n}: step` },
        steps.map((label, index) =>
          h("option", { value: index, selected: index === steps.length - 1 }, label),
        ),
      ),
    ),
    h("td", {}, by),
    h("td", {}, name),
    h(
      "td",
      {},
      h("input", {
        class: "settings",
        type: "text",
        value: "skip",
        "aria-label": `Override ${n}: settings`,
      }),
    ),
    h("td", {}, remove),
  );
  remove.addEventListener("click", () => {
    row.remove();
    refresh();
    byId("add-override").focus();
  });
  overridesBody.append(row);
  refresh();
  name.focus();
}
byId("add-override").addEventListener("click", addOverride);

/** Shows the fields that matter for the current choices. */
function updateVisibility(): void {
  const steps = FAMILIES[fields.family()].steps;
  for (const fieldset of form.querySelectorAll<HTMLElement>("[data-step]")) {
    fieldset.hidden = !steps.includes(fieldset.dataset.step as never);
  }
  for (const label of form.querySelectorAll<HTMLElement>("[data-when]")) {
    const [name, values] = label.dataset.when!.split("=");
    label.hidden = !values.split("|").includes(fields.text(name));
  }
  for (const cell of form.querySelectorAll<HTMLElement>("[data-joint-only]")) {
    cell.hidden = steps.length < 2;
  }
  // Step choices of overrides follow the method.
  const labels = stepLabels(fields.family());
  for (const select of overridesBody.querySelectorAll<HTMLSelectElement>(".step")) {
    if ([...select.options].map((o) => o.text).join() === labels.join()) continue;
    const keep = Math.min(Number(select.value), labels.length - 1);
    select.replaceChildren(
      ...labels.map((label, index) =>
        h("option", { value: index, selected: index === keep }, label),
      ),
    );
  }
}

function refresh(): void {
  updateVisibility();
  if (!handEdited) configText.value = configYaml(fields, readOverrides());
  if (model) byId("cli-line").textContent = commandLine(model, fields);
}

form.addEventListener("input", (event) => {
  if (event.target === configText) {
    handEdited = true;
    say(
      "yaml-status",
      "Edited by hand: this text runs as it is, and the form no longer changes it.",
    );
    return;
  }
  refresh();
});
form.addEventListener("change", (event) => {
  if (event.target !== configText) refresh();
});
byId("reset-config").addEventListener("click", () => {
  handEdited = false;
  say("yaml-status", "");
  refresh();
});
const configInput = byId<HTMLInputElement>("config-input");
byId("load-config").addEventListener("click", () => configInput.click());
configInput.addEventListener("change", async () => {
  const file = configInput.files?.[0];
  configInput.value = "";
  if (!file) return;
  configText.value = await file.text();
  handEdited = true;
  say("yaml-status", `Loaded ${file.name}: it runs as it is.`);
});

// Running.

const runButton = byId<HTMLButtonElement>("run");
const cancelButton = byId<HTMLButtonElement>("cancel");
const progress = byId<HTMLProgressElement>("progress");

function currentJob(): Job {
  if (model!.kind === "mlmodel") return { kind: "neural", settings: neuralSettings(fields) };
  const json = /^\s*[{[]/.test(configText.value);
  return {
    kind: "steps",
    configText: configText.value,
    configName: json ? "config.json" : "config.yaml",
    target: fields.text("target") || undefined,
  };
}

function running(on: boolean): void {
  runButton.disabled = on;
  cancelButton.disabled = !on;
  byId("progress-area").hidden = !on;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!model || jobs.busy) return;
  running(true);
  progress.removeAttribute("value");
  byId("progress-label").textContent = "Starting…";
  say("run-status", "Compressing…");
  try {
    const reply = await jobs.send<"compressed">({ type: "compress", job: currentJob() }, (p) => {
      byId("progress-label").textContent =
        `${p.label}: ${p.done}/${p.total}${p.name ? ` (${p.name})` : ""}`;
      progress.max = Math.max(1, p.total);
      progress.value = p.done;
    });
    showResult(reply);
    say("run-status", "Done.");
    byId("result-title").focus();
  } catch (error) {
    if (error instanceof Cancelled) say("run-status", "Cancelled.");
    else say("run-status", (error as Error).message, true);
  } finally {
    running(false);
  }
});
cancelButton.addEventListener("click", () => {
  jobs.cancel();
  runButton.focus();
});

function showResult(reply: Extract<Reply, { type: "compressed" }>): void {
  const name = `${model!.name}-compressed`;
  result = { files: reply.files, name };
  byId("result-summary").replaceChildren(resultSummary(reply.report));
  byId("chart").replaceChildren(weightsChart(reply.report.weights));
  byId("chart-figure").hidden = reply.report.weights.length === 0;
  byId("result-weights").replaceChildren(weightsTable(reply.report.weights));
  byId("compare-table").replaceChildren();
  say("compare-status", "");
  say("save-status", "");
  const isPackage = model!.kind === "mlpackage";
  byId("download").textContent = isPackage
    ? `Download ${name}.mlpackage (zip)`
    : `Download ${name}.mlmodel`;
  byId("save-folder").hidden = !isPackage || !canSaveToFolder();
  byId("result").hidden = false;
}

// Saving.

byId("download").addEventListener("click", () => {
  if (!result || !model) return;
  if (model.kind === "mlmodel") {
    download(`${result.name}.mlmodel`, result.files[0][1], "application/octet-stream");
  } else {
    const folder = `${result.name}.mlpackage`;
    download(`${folder}.zip`, zipPackage(folder, result.files), "application/zip");
  }
  say("save-status", "Downloaded.");
});
byId("save-folder").addEventListener("click", async () => {
  if (!result) return;
  try {
    const where = await saveToFolder(`${result.name}.mlpackage`, result.files);
    if (where) say("save-status", `Saved ${where}.`);
  } catch (error) {
    say("save-status", (error as Error).message, true);
  }
});

// Comparing outputs.

byId("compare-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (jobs.busy) return;
  const samples = Math.max(1, Math.min(64, Number(byId<HTMLInputElement>("samples").value) || 1));
  say("compare-status", `Running both models on ${samples} random inputs…`);
  try {
    const reply = await jobs.send<"compared">({ type: "compare", samples });
    byId("compare-table").replaceChildren(comparisonTable(reply.outputs, reply.samples));
    say("compare-status", "Compared.");
  } catch (error) {
    say("compare-status", (error as Error).message, true);
  }
});

// Offline: a service worker keeps the app's files (not on file: pages, where there is none).
if ("serviceWorker" in navigator && location.protocol.startsWith("http")) {
  void navigator.serviceWorker.register("sw.js").catch(() => {});
}
