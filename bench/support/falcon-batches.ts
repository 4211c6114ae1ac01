// The bench dataset as falcon pushes, already JSON text: the load generator shares the machine with
// the server, so it stays cheap.
import { Dataset, STEP } from '../dataset.js'

/**
 * falconBatches yields the dataset in time order as pushes of `batch` MetricValues (a JSON array's
 * text and its length): every series' point for a minute, then the next minute, from `firstT`
 * (seconds). `prefix` renames the hosts, so two runs over one server write different series.
 */
export function* falconBatches(
  series: number,
  points: number,
  batch: number,
  prefix: string,
  firstT: number
): Generator<{ text: string; n: number }> {
  const data = new Dataset(series, 0x5eed1234)
  const vals = new Float64Array(series)
  // The constant part of each series' JSON, built once.
  const heads = data.descs.map(
    (d) =>
      `{"endpoint":${JSON.stringify(prefix + d.endpoint)},"metric":${JSON.stringify(d.metric)},` +
      `"step":${STEP},"counterType":"${d.dstype === 'DERIVE' ? 'COUNTER' : 'GAUGE'}",` +
      `"tags":${JSON.stringify(d.tags)},"value":`
  )
  let text = '['
  let n = 0
  for (let i = 0; i < points; i++) {
    data.next(vals)
    const ts = firstT + i * STEP
    for (let s = 0; s < series; s++) {
      text += (n === 0 ? '' : ',') + heads[s] + vals[s] + ',"timestamp":' + ts + '}'
      if (++n === batch) {
        yield { text: text + ']', n }
        text = '['
        n = 0
      }
    }
  }
  if (n > 0) yield { text: text + ']', n }
}
