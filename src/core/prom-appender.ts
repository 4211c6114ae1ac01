// The in-process way into storage for Prometheus series: what transfer's remote write receiver does
// with a decoded request, offered to a component of the same process (scrape in the all-in-one) so
// that it need not encode, compress, send and decode what it could hand over. As Prometheus's
// storage.Appender: a series is looked up once (`ref`) and its ref kept by the caller; samples are
// then appended by ref, a column of times and a column of values, one sample per ref.

/** SeriesRef stands for a series a PromAppender has placed; only that appender reads it. */
export type SeriesRef = { readonly __seriesRef: unique symbol }

/**
 * AppendResult is what became of an append:
 * - `stored`: samples every graph address holding them has in its WAL;
 * - `refused`: samples storage will not keep (too old, past a series limit), with the first reasons;
 * - `retry`: nothing was taken (a graph node down or not keeping up): send the same again later.
 */
export type AppendResult =
  | { outcome: 'stored'; stored: number; refused: number; reasons: string[] }
  | { outcome: 'retry'; reason: string }

/** PromAppender takes Prometheus series in-process, with remote write's guarantees. */
export interface PromAppender {
  /**
   * ref places a series (labels sorted by name, `__name__` among them), or says why it cannot be
   * stored. The same labels give an equal ref for as long as the caller holds it.
   */
  ref(labels: readonly (readonly [string, string])[]): SeriesRef | string
  /**
   * append stores sample k (`t[k]` ms, `v[k]`) in series `refs[k]`, new series with a step of `step`
   * seconds; it resolves once the samples are acknowledged (or refused) and never rejects.
   */
  append(
    refs: readonly SeriesRef[],
    t: Float64Array,
    v: Float64Array,
    step: number
  ): Promise<AppendResult>
}
