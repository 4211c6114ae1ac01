// The record types a database writes to its WAL (payload layouts in FORMAT.md).

/** REC_SERIES introduces a series: ref, endpoint, metric, tags, dstype, step. */
export const REC_SERIES = 1
/** REC_SAMPLES holds points: count, then (ref, Δt, value) each. */
export const REC_SAMPLES = 2
/** REC_DELETE deletes a series by uid. */
export const REC_DELETE = 3
/** REC_SEAL_ALL marks where a flush began: every series seals its open chunk there. */
export const REC_SEAL_ALL = 4

/** MAX_SAMPLES_PER_RECORD bounds a WAL samples record (at most ~19 bytes a point). */
export const MAX_SAMPLES_PER_RECORD = 1 << 20
