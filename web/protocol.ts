/**
 * Messages between the page (main.ts) and the worker that holds the model and runs the
 * library (job-worker.ts). Every heavy step runs there, so the page stays responsive and a
 * cancel is the worker's termination.
 */
import type { ModelSummary, OutputComparison } from "../src/browser.js";

/** A model's files by relative path (an `.mlpackage`'s items, or one `.mlmodel`). */
export type FileList = [path: string, bytes: Uint8Array][];

/** quantize-weights settings for a neural network (`.mlmodel`), as the CLI's flags. */
export interface NeuralSettings {
  nbits: number;
  mode: string;
  skipLayerTypes: string[];
  skipLayers: string[];
  minConvChannels?: number;
  minWeightCount?: number;
}

export type Job =
  /** `coreml-optimize compress IN -o OUT --config FILE [--target T]`. */
  | { kind: "steps"; configText: string; configName: string; target?: string }
  /** `coreml-optimize quantize-weights IN -o OUT --nbits ...`. */
  | { kind: "neural"; settings: NeuralSettings };

export type Request =
  | { type: "open"; name: string; files: FileList }
  | { type: "compress"; job: Job }
  | { type: "compare"; samples: number };

/** One weight of a compression report. */
export interface WeightRow {
  /** The pass that compressed it (one per step). */
  pass: string;
  name: string;
  type: string;
  config: string;
  bytesBefore: number;
  bytesAfter: number;
  snrDb?: number;
}

export interface CompressReport {
  weights: WeightRow[];
  sizeBefore: number;
  sizeAfter: number;
  seconds: number;
}

export type Reply =
  | { type: "opened"; summary: ModelSummary; size: number }
  | { type: "progress"; label: string; done: number; total: number; name: string }
  | { type: "compressed"; report: CompressReport; files: FileList }
  | { type: "compared"; samples: number; outputs: OutputComparison[] }
  | { type: "failed"; request: Request["type"]; message: string };
