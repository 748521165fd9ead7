import assert from "node:assert/strict";
import { test } from "node:test";
import {
  accumulateGram,
  accumulateGramReference,
  accumulateSquares,
  mirrorUpper,
} from "../../src/kernels/gram.js";
import { gptq, inverseFactor, type GptqGrid } from "../../src/kernels/gptq.js";
import { roundHalfEven } from "../../src/kernels/rounding.js";
import { referenceGptq } from "../support/gptq-reference.js";

function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
}

/** XᵀX of `rows` vectors of `columns` values given row-major, with a spread of channel scales. */
function gramOf(x: Float64Array, rows: number, columns: number): Float64Array {
  const gram = new Float64Array(columns * columns);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < columns; i++) {
      for (let j = 0; j < columns; j++)
        gram[i * columns + j] += x[r * columns + i] * x[r * columns + j];
    }
  }
  return gram;
}

function activations(rows: number, columns: number, seed: number): Float64Array {
  const next = random(seed);
  const shared = Float64Array.from({ length: rows }, next);
  // Correlated inputs of different scales: what makes GPTQ differ from rounding.
  return Float64Array.from({ length: rows * columns }, (_, i) => {
    const c = i % columns;
    return (1 + (c % 5)) * (next() + 0.7 * shared[Math.floor(i / columns)]);
  });
}

test("tiled Gram sums equal the row-by-row reference (any column count) and the direct XᵀX", () => {
  for (const [columns, rows] of [
    [1, 3],
    [4, 5],
    [7, 9],
    [13, 2],
    [16, 33],
  ]) {
    const x = activations(rows, columns, columns);
    const byColumn = new Float64Array(rows * columns);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < columns; c++) byColumn[c * rows + r] = x[r * columns + c];
    }
    const tiled = new Float64Array(columns * columns);
    const reference = new Float64Array(columns * columns);
    accumulateGram(byColumn, columns, rows, tiled);
    accumulateGramReference(byColumn, columns, rows, reference);
    mirrorUpper(tiled, columns);
    mirrorUpper(reference, columns);
    const direct = gramOf(x, rows, columns);
    const diagonal = new Float64Array(columns);
    accumulateSquares(byColumn, columns, rows, diagonal);
    for (let i = 0; i < columns * columns; i++) {
      assert.ok(Math.abs(tiled[i] - reference[i]) <= 1e-12 * (1 + Math.abs(reference[i])));
      assert.ok(Math.abs(tiled[i] - direct[i]) <= 1e-12 * (1 + Math.abs(direct[i])));
    }
    for (let c = 0; c < columns; c++) {
      assert.ok(Math.abs(diagonal[c] - direct[c * columns + c]) <= 1e-12 * direct[c * columns + c]);
    }
  }
});

test("inverseFactor is the upper Cholesky factor of the damped inverse, in the given order", () => {
  const n = 9;
  const h = gramOf(activations(20, n, 3), 20, n);
  const order = Int32Array.from([4, 0, 8, 1, 7, 2, 6, 3, 5]);
  const u = inverseFactor(h, n, order, 0.05);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i] / n;
  // (UᵀU) · (P(H + λI)Pᵀ) = I.
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let k = 0; k < n; k++) {
        let inverse = 0;
        for (let m = 0; m <= Math.min(a, k); m++) inverse += u[m * n + a] * u[m * n + k];
        const damped = h[order[k] * n + order[b]] + (k === b ? 0.05 * mean : 0);
        s += inverse * damped;
      }
      assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-9, `entry ${a},${b}: ${s}`);
    }
    for (let b = 0; b < a; b++) assert.equal(u[a * n + b], 0);
  }
});

const INT4: Omit<GptqGrid, "rowBlock" | "columnBlock"> = {
  mode: "linear_symmetric",
  signed: true,
  qMin: -7,
  qMax: 7,
  round: Math.fround,
};
const UINT4_AFFINE: Omit<GptqGrid, "rowBlock" | "columnBlock"> = {
  mode: "linear",
  signed: false,
  qMin: 0,
  qMax: 15,
  round: Math.fround,
};

test("GPTQ matches a direct float64 implementation of the algorithm", () => {
  const rows = 6;
  const columns = 12;
  const x = activations(40, columns, 7);
  const hessian = gramOf(x, 40, columns);
  const next = random(11);
  const w = Float64Array.from({ length: rows * columns }, () => Math.fround(next()));
  const cases: [string, GptqGrid, boolean][] = [
    ["int4 per channel", { ...INT4, rowBlock: 1, columnBlock: 0 }, false],
    ["int4 per block 4", { ...INT4, rowBlock: 1, columnBlock: 4 }, false],
    ["uint4 affine per block 3", { ...UINT4_AFFINE, rowBlock: 1, columnBlock: 3 }, false],
    ["int4 per tensor", { ...INT4, rowBlock: 0, columnBlock: 0 }, false],
    ["int4 per channel, activation order", { ...INT4, rowBlock: 1, columnBlock: 0 }, true],
  ];
  for (const [name, grid, activationOrder] of cases) {
    const result = gptq(w, rows, columns, hessian, grid, { dampening: 0.01, activationOrder });
    const order = Array.from({ length: columns }, (_, i) => i);
    if (activationOrder)
      order.sort((a, b) => hessian[b * columns + b] - hessian[a * columns + a] || a - b);
    // With activation order the reference's scales come from the original weights too (its
    // lazily computed blocks see them before any update when blocks are whole rows).
    const expected = referenceGptq(w, rows, columns, hessian, grid, 0.01, order);
    assert.deepEqual(Array.from(result.q), Array.from(expected), name);
    const differs = Array.from(result.q).some((q, i) => {
      const rounded = Math.round(
        w[i] /
          result.scales[
            Math.floor(i / columns) * (columns / (grid.columnBlock || columns)) +
              Math.floor((i % columns) / (grid.columnBlock || columns))
          ],
      );
      return q !== rounded;
    });
    if (grid.rowBlock === 1 && grid.mode === "linear_symmetric")
      assert.ok(differs, `${name}: same as rounding`);
  }
});

test("GPTQ's outputs on the calibration inputs are closer than round-to-nearest's", () => {
  const rows = 16;
  const columns = 32;
  const vectors = 200;
  const x = activations(vectors, columns, 5);
  const hessian = gramOf(x, vectors, columns);
  const next = random(3);
  const w = Float64Array.from({ length: rows * columns }, () => next());
  const grid: GptqGrid = { ...INT4, rowBlock: 1, columnBlock: 8 };
  const outputError = (q: (r: number, c: number) => number) => {
    let error = 0;
    for (let v = 0; v < vectors; v++) {
      for (let r = 0; r < rows; r++) {
        let d = 0;
        for (let c = 0; c < columns; c++) d += (w[r * columns + c] - q(r, c)) * x[v * columns + c];
        error += d * d;
      }
    }
    return error;
  };
  const result = gptq(w, rows, columns, hessian, grid, { dampening: 0.01, activationOrder: false });
  const blockOf = (r: number, c: number) => r * (columns / 8) + Math.floor(c / 8);
  const gptqError = outputError((r, c) => result.q[r * columns + c] * result.scales[blockOf(r, c)]);
  const rtnError = outputError((r, c) => {
    let max = 0;
    for (let j = Math.floor(c / 8) * 8; j < Math.floor(c / 8) * 8 + 8; j++) {
      max = Math.max(max, Math.abs(w[r * columns + j]));
    }
    const s = Math.fround(Math.fround(2 * max) / 14);
    return Math.min(7, Math.max(-7, roundHalfEven(w[r * columns + c] / s))) * s;
  });
  assert.ok(gptqError < 0.7 * rtnError, `GPTQ ${gptqError} vs RTN ${rtnError}`);
});
