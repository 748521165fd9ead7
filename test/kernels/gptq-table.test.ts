import assert from "node:assert/strict";
import { test } from "node:test";
import { gptqTable, nearestIndices, type TableGptqOptions } from "../../src/kernels/gptq-table.js";

function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
}

/** `vectors` correlated inputs of `columns` values with a spread of scales, row-major. */
function inputs(vectors: number, columns: number, seed: number): Float64Array {
  const next = random(seed);
  return Float64Array.from({ length: vectors * columns }, (_, i) => {
    const shared = Math.sin(Math.floor(i / columns) * 1.7);
    return (1 + ((i % columns) % 4)) * (next() + 0.8 * shared);
  });
}

/** XᵀX of each group's inputs, concatenated. */
function gramsOf(groupInputs: Float64Array[], vectors: number, columns: number): Float64Array {
  const grams = new Float64Array(groupInputs.length * columns * columns);
  groupInputs.forEach((x, g) => {
    const gram = grams.subarray(g * columns * columns);
    for (let v = 0; v < vectors; v++)
      for (let i = 0; i < columns; i++)
        for (let j = 0; j < columns; j++)
          gram[i * columns + j] += x[v * columns + i] * x[v * columns + j];
  });
  return grams;
}

/** Σ ‖(W − Ŵ) x‖² over each group's rows and inputs, computed on the inputs themselves. */
function outputErrorOnInputs(
  weight: Float64Array,
  decoded: Float64Array,
  rows: number,
  columns: number,
  groupInputs: Float64Array[],
  vectors: number,
): number {
  const rowsPerGroup = rows / groupInputs.length;
  let error = 0;
  for (let r = 0; r < rows; r++) {
    const x = groupInputs[Math.floor(r / rowsPerGroup)];
    for (let v = 0; v < vectors; v++) {
      let change = 0;
      for (let c = 0; c < columns; c++)
        change += (weight[r * columns + c] - decoded[r * columns + c]) * x[v * columns + c];
      error += change * change;
    }
  }
  return error;
}

const OPTIONS: TableGptqOptions = {
  dampening: 0.01,
  activationOrder: false,
  refits: 0,
  round: Math.fround,
};

test("GPTQ onto a table with H = identity is nearest-entry rounding", () => {
  for (const [rows, columns, groups, entries] of [
    [5, 7, 1, 4],
    [6, 3, 3, 8],
    [1, 1, 1, 2],
  ]) {
    const next = random(rows * 31 + columns);
    const weight = Float64Array.from({ length: rows * columns }, next);
    // Out of order, as stored tables may be.
    const table = Float64Array.from({ length: entries }, (_, e) =>
      Math.fround(((e * 5) % entries) / entries - 0.5),
    );
    const identity = new Float64Array(groups * columns * columns);
    for (let g = 0; g < groups; g++)
      for (let c = 0; c < columns; c++) identity[g * columns * columns + c * columns + c] = 1;
    const result = gptqTable(weight, rows, columns, identity, groups, table, OPTIONS);
    assert.deepEqual(result.indices, nearestIndices(weight, table), `${rows}×${columns}`);
    assert.deepEqual(result.table, table);
  }
});

test("GPTQ onto a table never has a larger layer-output error than nearest-entry rounding", () => {
  let improved = 0;
  let cases = 0;
  for (const [rows, columns, groups, entries, vectors] of [
    [9, 13, 1, 4, 40],
    [12, 5, 3, 8, 7],
    [7, 17, 7, 2, 30],
    [16, 31, 2, 16, 64],
    [3, 2, 1, 4, 1],
  ]) {
    const next = random(rows * 7 + columns);
    const weight = Float64Array.from({ length: rows * columns }, () => next() * 2);
    const table = Float64Array.from({ length: entries }, (_, e) =>
      Math.fround(((e + 0.5) / entries - 0.5) * 1.6 + next() * 0.1),
    );
    const groupInputs = Array.from({ length: groups }, (_, g) => inputs(vectors, columns, 3 + g));
    const hessians = gramsOf(groupInputs, vectors, columns);
    const error = (indices: Uint8Array, entriesOf: Float64Array) =>
      outputErrorOnInputs(
        weight,
        Float64Array.from(indices, (i) => entriesOf[i]),
        rows,
        columns,
        groupInputs,
        vectors,
      );
    const nearest = error(nearestIndices(weight, table), table);
    let previous = Infinity;
    for (const refits of [0, 1, 2]) {
      const result = gptqTable(weight, rows, columns, hessians, groups, table, {
        ...OPTIONS,
        refits,
      });
      const measured = error(result.indices, result.table);
      const what = `${rows}×${columns}, ${groups} groups, ${entries} entries, ${refits} refits`;
      assert.ok(Math.abs(measured - result.error) <= 1e-9 * (1 + measured), what);
      assert.ok(measured <= nearest * (1 + 1e-12), `${what}: ${measured} vs ${nearest}`);
      assert.ok(measured <= previous * (1 + 1e-12), `${what}: more refits, no larger error`);
      assert.ok(
        result.table.every((v) => v === Math.fround(v)),
        `${what}: float32 entries`,
      );
      previous = measured;
      cases++;
      if (measured < nearest * 0.99) improved++;
    }
  }
  // Error feedback (and refitting) does lower the error, not only keep nearest rounding.
  assert.ok(improved >= cases - 3, `${improved} of ${cases} improved`);
});

test("with H = identity a refit moves each entry to the mean of its weights", () => {
  const [rows, columns] = [6, 9];
  const next = random(5);
  const weight = Float64Array.from({ length: rows * columns }, next);
  const table = Float64Array.from([-0.4, -0.1, 0.15, 0.45]);
  const identity = new Float64Array(columns * columns);
  for (let c = 0; c < columns; c++) identity[c * columns + c] = 1;
  const indices = nearestIndices(weight, table);
  const sums = new Float64Array(4);
  const counts = new Float64Array(4);
  indices.forEach((e, i) => ((sums[e] += weight[i]), counts[e]++));
  const result = gptqTable(weight, rows, columns, identity, 1, table, { ...OPTIONS, refits: 1 });
  for (let e = 0; e < 4; e++) {
    const mean = Math.fround(sums[e] / counts[e]);
    assert.ok(
      Math.abs(result.table[e] - mean) <= 1e-6,
      `entry ${e}: ${result.table[e]} vs ${mean}`,
    );
  }
});
