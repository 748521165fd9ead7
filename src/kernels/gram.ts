/**
 * Second moments of activations, the statistics data-aware weight compression works from:
 * for activation vectors x (the rows of X), the Gram matrix XᵀX or only its diagonal Σ x_j²,
 * summed in float64 over any number of chunks of rows so activations never need to be kept.
 */

/**
 * Adds XᵀX of a chunk of `rows` vectors of `columns` values to `gram` (columns × columns,
 * row-major). The chunk is given column-major (`byColumn[c * rows + r]`), so each entry is a dot
 * product over contiguous memory; only the upper triangle is summed (see mirrorUpper).
 */
export function accumulateGram(
  byColumn: Float64Array,
  columns: number,
  rows: number,
  gram: Float64Array,
): void {
  const tiled = columns - (columns % 4);
  for (let i = 0; i < tiled; i += 4) {
    for (let j = i; j < tiled; j += 4) gramTile(byColumn, columns, rows, gram, i, j);
  }
  // Rows of the upper triangle the 4 × 4 tiles leave: the last columns' entries.
  for (let i = 0; i < columns; i++) {
    for (let j = Math.max(i, tiled); j < columns; j++) {
      gram[i * columns + j] += dot(byColumn, i * rows, j * rows, rows);
    }
  }
}

/**
 * Adds the 4 × 4 block of XᵀX at (i, j): sixteen sums from eight reads per vector, which is
 * what makes this fast (row-by-row dot products are bound by memory reads).
 */
function gramTile(
  x: Float64Array,
  columns: number,
  rows: number,
  gram: Float64Array,
  i: number,
  j: number,
): void {
  const a0 = i * rows;
  const a1 = a0 + rows;
  const a2 = a1 + rows;
  const a3 = a2 + rows;
  const b0 = j * rows;
  const b1 = b0 + rows;
  const b2 = b1 + rows;
  const b3 = b2 + rows;
  let s00 = 0,
    s01 = 0,
    s02 = 0,
    s03 = 0;
  let s10 = 0,
    s11 = 0,
    s12 = 0,
    s13 = 0;
  let s20 = 0,
    s21 = 0,
    s22 = 0,
    s23 = 0;
  let s30 = 0,
    s31 = 0,
    s32 = 0,
    s33 = 0;
  for (let r = 0; r < rows; r++) {
    const x0 = x[a0 + r];
    const x1 = x[a1 + r];
    const x2 = x[a2 + r];
    const x3 = x[a3 + r];
    const y0 = x[b0 + r];
    const y1 = x[b1 + r];
    const y2 = x[b2 + r];
    const y3 = x[b3 + r];
    s00 += x0 * y0;
    s01 += x0 * y1;
    s02 += x0 * y2;
    s03 += x0 * y3;
    s10 += x1 * y0;
    s11 += x1 * y1;
    s12 += x1 * y2;
    s13 += x1 * y3;
    s20 += x2 * y0;
    s21 += x2 * y1;
    s22 += x2 * y2;
    s23 += x2 * y3;
    s30 += x3 * y0;
    s31 += x3 * y1;
    s32 += x3 * y2;
    s33 += x3 * y3;
  }
  // On the diagonal the tile's lower entries are summed too; mirrorUpper overwrites them.
  const g0 = i * columns + j;
  const g1 = g0 + columns;
  const g2 = g1 + columns;
  const g3 = g2 + columns;
  gram[g0] += s00;
  gram[g0 + 1] += s01;
  gram[g0 + 2] += s02;
  gram[g0 + 3] += s03;
  gram[g1] += s10;
  gram[g1 + 1] += s11;
  gram[g1 + 2] += s12;
  gram[g1 + 3] += s13;
  gram[g2] += s20;
  gram[g2 + 1] += s21;
  gram[g2 + 2] += s22;
  gram[g2 + 3] += s23;
  gram[g3] += s30;
  gram[g3 + 1] += s31;
  gram[g3 + 2] += s32;
  gram[g3 + 3] += s33;
}

function dot(x: Float64Array, a: number, b: number, n: number): number {
  let s = 0;
  for (let r = 0; r < n; r++) s += x[a + r] * x[b + r];
  return s;
}

/** Row-by-row version of accumulateGram, the reference its tiles are tested against. */
export function accumulateGramReference(
  byColumn: Float64Array,
  columns: number,
  rows: number,
  gram: Float64Array,
): void {
  for (let i = 0; i < columns; i++) {
    const a = i * rows;
    const out = i * columns;
    for (let j = i; j < columns; j++) {
      const b = j * rows;
      // Four partial sums: shorter dependency chains, the same result to rounding.
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let r = 0;
      for (; r + 3 < rows; r += 4) {
        s0 += byColumn[a + r] * byColumn[b + r];
        s1 += byColumn[a + r + 1] * byColumn[b + r + 1];
        s2 += byColumn[a + r + 2] * byColumn[b + r + 2];
        s3 += byColumn[a + r + 3] * byColumn[b + r + 3];
      }
      for (; r < rows; r++) s0 += byColumn[a + r] * byColumn[b + r];
      gram[out + j] += s0 + s1 + s2 + s3;
    }
  }
}

/** Copies the upper triangle of a square matrix onto its lower one. */
export function mirrorUpper(matrix: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) matrix[i * n + j] = matrix[j * n + i];
  }
}

/** Adds Σ x_j² over a column-major chunk (as accumulateGram takes it) to `diagonal`. */
export function accumulateSquares(
  byColumn: Float64Array,
  columns: number,
  rows: number,
  diagonal: Float64Array,
): void {
  for (let c = 0; c < columns; c++) {
    let sum = 0;
    for (let r = c * rows, end = r + rows; r < end; r++) sum += byColumn[r] * byColumn[r];
    diagonal[c] += sum;
  }
}
