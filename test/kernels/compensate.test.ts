import assert from "node:assert/strict";
import { test } from "node:test";
import { compensatedWeights } from "../../src/kernels/compensate.js";
import { seededRandom } from "../../src/kernels/random.js";

/** Σ a·bᵀ over `vectors` row-major vectors of `columns` values, [a index][b index]. */
function crossOf(a: Float64Array, b: Float64Array, vectors: number, columns: number) {
  const out = new Float64Array(columns * columns);
  for (let v = 0; v < vectors; v++)
    for (let i = 0; i < columns; i++)
      for (let j = 0; j < columns; j++)
        out[i * columns + j] += a[v * columns + i] * b[v * columns + j];
  return out;
}

/** Σ (w·x_ref − ŵ·x)² over the vectors, for one row of each. */
function rowError(w: Float64Array, fitted: Float64Array, ref: Float64Array, x: Float64Array) {
  const columns = w.length;
  let error = 0;
  for (let v = 0; v < ref.length / columns; v++) {
    let d = 0;
    for (let c = 0; c < columns; c++)
      d += w[c] * ref[v * columns + c] - fitted[c] * x[v * columns + c];
    error += d * d;
  }
  return error;
}

/** Odd sizes: two groups of 3 rows, 7 columns, 41 vectors; x = x_ref plus an error. */
const [ROWS, COLUMNS, VECTORS, GROUPS] = [6, 7, 41, 2];

function groupData(seed: number) {
  const next = seededRandom(seed);
  const ref = Float64Array.from(
    { length: VECTORS * COLUMNS },
    (_, i) => (1 + (i % 3)) * (next() - 0.5),
  );
  const x = ref.map((v) => v + 0.3 * (next() - 0.5) + 0.1 * v);
  return {
    ref,
    x,
    gram: crossOf(x, x, VECTORS, COLUMNS),
    cross: crossOf(ref, x, VECTORS, COLUMNS),
  };
}

test("compensated weights: least squares against the reference output, per group, unchanged without input error", () => {
  const next = seededRandom(5);
  const weight = Float64Array.from({ length: ROWS * COLUMNS }, () => next() - 0.5);
  const groups = [groupData(11), groupData(12)];
  const join = (key: "gram" | "cross") => {
    const out = new Float64Array(GROUPS * COLUMNS * COLUMNS);
    groups.forEach((g, i) => out.set(g[key], i * COLUMNS * COLUMNS));
    return out;
  };
  const fitted = compensatedWeights(
    weight,
    ROWS,
    COLUMNS,
    join("gram"),
    join("cross"),
    GROUPS,
    1e-12,
  );
  for (let r = 0; r < ROWS; r++) {
    const g = groups[Math.floor(r / (ROWS / GROUPS))];
    const w = weight.subarray(r * COLUMNS, (r + 1) * COLUMNS);
    const best = fitted.subarray(r * COLUMNS, (r + 1) * COLUMNS);
    const error = rowError(w, best, g.ref, g.x);
    // The least-squares optimum: no worse than the weight itself, nor than any nudge of it.
    assert.ok(error < rowError(w, w, g.ref, g.x), `row ${r}`);
    for (let c = 0; c < COLUMNS; c++) {
      for (const step of [-1e-3, 1e-3]) {
        const moved = Float64Array.from(best);
        moved[c] += step;
        assert.ok(error <= rowError(w, moved, g.ref, g.x) + 1e-12, `row ${r} column ${c}`);
      }
    }
  }
  // Inputs as the reference's (C = H): the weight stays as it is.
  const same = compensatedWeights(weight, ROWS, COLUMNS, join("gram"), join("gram"), GROUPS, 0.1);
  assert.deepEqual(same, weight);
  // Dampening shrinks the correction towards the weight.
  const damped = compensatedWeights(weight, ROWS, COLUMNS, join("gram"), join("cross"), GROUPS, 10);
  const distance = (a: Float64Array) => a.reduce((s, v, i) => s + (v - weight[i]) ** 2, 0);
  assert.ok(distance(damped) < distance(fitted));
});
