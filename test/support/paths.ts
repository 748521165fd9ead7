import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root (tests run compiled from dist/test/...). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const FIXTURES = join(REPO_ROOT, "fixtures");

/** `../shared` beside the repository, when present: wider checks run only then. */
const sharedCandidate = resolve(REPO_ROOT, "../shared");
export const SHARED: string | undefined = existsSync(sharedCandidate) ? sharedCandidate : undefined;

/** The golden cases: the full set from ../shared, else the subset copied into fixtures. */
export const GOLDEN = SHARED ? join(SHARED, "golden") : join(FIXTURES, "golden");
