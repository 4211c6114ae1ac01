/**
 * @module judge
 * Open-Falcon's judge. So far only its pure function layer: falcon's history values, the judge
 * functions (all, max, min, sum, avg, diff, pdiff, lookup, stddev), their parser and operators.
 */
export * from './functions.js'
