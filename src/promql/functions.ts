// PromQL's function math over columnar samples (no labels, no AST), as Prometheus 2.55.1 computes it.
export { KahanSum } from './functions/kahan.js'
export { bucketQuantile, quantile } from './functions/quantile.js'
export type { BucketQuantile } from './functions/quantile.js'
export { RANGE_FUNCTIONS } from './functions/range.js'
export type { RangeFunction, RangeWindow } from './functions/range.js'
export { clampDrops, TIME_FUNCTIONS, VALUE_FUNCTIONS } from './functions/value.js'
export type { ValueFunction } from './functions/value.js'
