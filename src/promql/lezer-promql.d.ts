// Types for @prometheus-io/lezer-promql: its package.json "exports" hides the .d.ts it ships.
declare module '@prometheus-io/lezer-promql' {
  import type { LRParser } from '@lezer/lr'
  export const parser: LRParser
}
