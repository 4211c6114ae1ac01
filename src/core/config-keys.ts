// Strict configuration: a key a section does not take is an error naming its path, never ignored
// (a misspelt `graphCluser` must not fall back to the default without a word).

/** checkKnownKeys adds a problem for every key of `raw` not in `known`, named `section.key`. */
export function checkKnownKeys(
  problems: string[],
  section: string,
  raw: Readonly<Record<string, unknown>>,
  known: readonly string[]
): void {
  for (const k of Object.keys(raw)) {
    if (!known.includes(k))
      problems.push(`${section}.${k}: not a setting of ${section} (expected ${known.join(', ')})`)
  }
}

/** checkGraphCluster checks a `{node: "host:port[,host:port]"}` map with at least one node. */
export function checkGraphCluster(problems: string[], key: string, cluster: unknown): void {
  if (typeof cluster !== 'object' || cluster === null || Object.keys(cluster).length === 0) {
    problems.push(`${key}: expected {"graph-00": "host:port", …} with at least one node`)
    return
  }
  for (const [name, addrs] of Object.entries(cluster as Record<string, unknown>)) {
    if (typeof addrs !== 'string' || !/^[^,\s]+:\d+(,[^,\s]+:\d+)*$/.test(addrs))
      problems.push(`${key}.${name}: expected "host:port" or "host:port,host:port"`)
  }
}

/** checkInt adds a problem unless `v` is an integer from `min` to `max`. */
export function checkInt(
  problems: string[],
  key: string,
  v: unknown,
  min: number,
  max: number,
  unit = ''
): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    problems.push(
      `${key}: expected an integer from ${min} to ${max}${unit === '' ? '' : ` (${unit})`}, got ${JSON.stringify(v)}`
    )
}

/**
 * checkTransferAddresses checks where points are pushed: a non-empty list of transfer JSON-RPC
 * `host:port` addresses or http(s) URLs (POST of a JSON array, falcon's /api/push or /v1/push).
 */
export function checkTransferAddresses(problems: string[], key: string, v: unknown): void {
  const ok = (a: unknown) =>
    typeof a === 'string' &&
    (/^[^\s/:]+:\d{1,5}$/.test(a) || (/^https?:\/\/\S+$/.test(a) && URL.canParse(a)))
  if (!Array.isArray(v) || v.length === 0 || !v.every(ok))
    problems.push(
      `${key}: expected a list of transfer addresses, "host:8433" (JSON-RPC) or "http://host:6060/api/push", got ${JSON.stringify(v)}`
    )
}

/**
 * checkReplication checks `section.replication`, on how many graph nodes each series is kept: an
 * integer from 1 to the number of nodes of `cluster` (the section's graphCluster). Nothing more is
 * said when the cluster itself is bad (its own check names it).
 */
export function checkReplication(
  problems: string[],
  section: string,
  v: unknown,
  cluster: unknown
): void {
  const n = typeof cluster === 'object' && cluster !== null ? Object.keys(cluster).length : 0
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > Math.max(1, n)) {
    problems.push(
      `${section}.replication: expected an integer from 1 to ${Math.max(1, n)} (the number of nodes in ${section}.graphCluster: each series is kept on that many distinct nodes), got ${JSON.stringify(v)}`
    )
  }
}
