/**
 * Times 4-bit k-means palettization of a 10M-element fp16 tensor (per tensor, and per grouped
 * channel with groups of 16 on worker threads). Run: npm run build && node dist/bench/palettize.js
 */
import { availableParallelism } from "node:os";
import { floatToHalf, halfToFloat } from "../src/kernels/fp16.js";
import { palettizeGroups } from "../src/kernels/palettize/modes.js";
import { WorkerPool } from "../src/parallel/pool.js";

const ROWS = 4096;
const COLUMNS = 2560; // 10.5M weights
let seed = 1;
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const halfBits = new Uint16Array(ROWS * COLUMNS);
for (let i = 0; i < halfBits.length; i++) {
  const gaussian = (random() + random() + random() + random() - 2) * 0.05;
  halfBits[i] = floatToHalf(gaussian);
}
const values = Float64Array.from(halfBits, halfToFloat);

let start = performance.now();
palettizeGroups({
  values,
  halfBits,
  groupCount: 1,
  clusterDim: 1,
  mode: "kmeans",
  nbits: 4,
  valueType: "fp16",
});
console.log(
  `per tensor, 4-bit, ${halfBits.length} fp16 weights: ${((performance.now() - start) / 1000).toFixed(2)} s`,
);

const pool = new WorkerPool(availableParallelism());
const groups = ROWS / 16;
const chunks = pool.size * 2;
start = performance.now();
await Promise.all(
  Array.from({ length: chunks }, (_, c) => {
    const first = Math.floor((c * groups) / chunks);
    const end = Math.floor(((c + 1) * groups) / chunks);
    const from = first * 16 * COLUMNS;
    const to = end * 16 * COLUMNS;
    return pool.run("palettizeGroups", {
      values: values.slice(from, to),
      halfBits: halfBits.slice(from, to),
      groupCount: end - first,
      clusterDim: 1,
      mode: "kmeans",
      nbits: 4,
      valueType: "fp16",
    });
  }),
);
console.log(
  `per grouped channel (16), 4-bit, ${pool.size} workers: ${((performance.now() - start) / 1000).toFixed(2)} s`,
);
await pool.close();
