/**
 * Progress on an interactive terminal; silent when stderr is not a TTY (pipes, CI) or when
 * asked to be quiet. The bar follows bytes where the work reports them (so the estimate
 * weighs a large weight as it should), shows what is being worked on, and the clock keeps
 * running while one long weight is under way.
 */
import cliProgress from "cli-progress";
import type { ProgressEvent } from "../progress.js";

export interface Progress {
  update(event: ProgressEvent): void;
  stop(): void;
}

const SILENT: Progress = { update() {}, stop() {} };

/** Longer labels are cut from the front: the end of a weight's name says the most. */
const LABEL_WIDTH = 40;

export function createProgress(title: string, quiet = false): Progress {
  if (quiet || !process.stderr.isTTY || process.env.CI) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format:
        `${title} [{bar}] {percentage}% | {done}/{count} | ` +
        "{duration_formatted} elapsed, {eta_formatted} left | {label}",
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update({ done, total, name, bytesDone, bytesTotal }) {
      const [value, scale] = bytesTotal ? [bytesDone ?? 0, bytesTotal] : [done, total];
      const label = name.length > LABEL_WIDTH ? `…${name.slice(-(LABEL_WIDTH - 1))}` : name;
      const payload = { done, count: total, label };
      if (!started) {
        bar.start(scale, value, payload);
        started = true;
      }
      bar.setTotal(scale);
      bar.update(value, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
