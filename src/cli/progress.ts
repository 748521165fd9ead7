/**
 * Per-tensor progress on an interactive terminal; silent when stderr is not a TTY (pipes, CI)
 * or when asked to be quiet.
 */
import cliProgress from "cli-progress";

export interface Progress {
  update(done: number, total: number, label: string): void;
  stop(): void;
}

const SILENT: Progress = { update() {}, stop() {} };

export function createProgress(title: string, quiet = false): Progress {
  if (quiet || !process.stderr.isTTY || process.env.CI) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${title} [{bar}] {value}/{total} {label}`,
      barsize: 30,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, label) {
      if (!started) {
        bar.start(total, 0, { label: "" });
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, { label: label.length > 40 ? `…${label.slice(-39)}` : label });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
