/** Signal-to-noise ratio in decibels of a reconstruction: Σ x² over Σ (x − x̂)². */
export function snrDb(signal: number, noise: number): number {
  return noise === 0 ? Infinity : 10 * Math.log10(signal / noise);
}
