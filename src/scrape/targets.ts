// Targets of a job: its static_configs and file_sd_configs groups, their labels relabelled as
// Prometheus's PopulateLabels does, into the URL to scrape and the labels every sample gets.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { parse as parseYaml } from 'yaml'
import type { Job } from './jobs.js'
import { parseDuration } from './jobs.js'
import { relabel } from './relabel.js'

/** Group is a target group as discovered: addresses, the group's labels, and where it came from. */
export interface Group {
  targets: string[]
  labels: Record<string, string>
  source: string
}

/** Target is a target to scrape: its discovered labels, its final labels and URL, or why it was dropped. */
export interface Target {
  job: string
  discovered: Record<string, string>
  /** labels: the target's labels, `job` and `instance` among them; null when relabelling dropped it. */
  labels: Record<string, string> | null
  url: string
  interval: number
  timeout: number
  /** key identifies the target in its job (its final labels and URL). */
  key: string
  /** invalid: why a target was refused (its address is not host:port), '' otherwise. */
  invalid?: string
}

/** FileGroups reads file_sd files (a `*` glob in the file name allowed), keeping the last good read of each. */
export class FileGroups {
  readonly #last = new Map<string, { stamp: string; groups: Group[] }>()
  /** errors: the last read error of each file that has one. */
  readonly errors = new Map<string, string>()

  read(patterns: readonly string[]): Group[] {
    const out: Group[] = []
    for (const pattern of patterns) {
      for (const file of expandGlob(pattern)) out.push(...this.#readFile(file))
    }
    return out
  }

  #readFile(file: string): Group[] {
    // A file is read again when anything about it changed: its inode (replaced by a rename), size,
    // modification time, or change time (which `cp -p`, `rsync -a` and `touch -r` cannot set back).
    let stamp: string
    try {
      const st = statSync(file)
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`
    } catch (err) {
      this.errors.set(file, (err as Error).message)
      return this.#last.get(file)?.groups ?? []
    }
    const last = this.#last.get(file)
    if (last !== undefined && last.stamp === stamp) return last.groups
    try {
      const text = readFileSync(file, 'utf8')
      const raw: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
      const groups = parseGroups(raw ?? [], file)
      this.#last.set(file, { stamp, groups })
      this.errors.delete(file)
      return groups
    } catch (err) {
      // Prometheus keeps the targets of a file it cannot read now.
      this.errors.set(file, (err as Error).message)
      return last?.groups ?? []
    }
  }
}

function parseGroups(raw: unknown, file: string): Group[] {
  if (!Array.isArray(raw)) throw new Error(`${file}: expected a list of {targets, labels}`)
  return raw.map((g: unknown, i) => {
    const o = g as { targets?: unknown; labels?: unknown }
    if (typeof o !== 'object' || o === null) throw new Error(`${file}[${i}]: expected a mapping`)
    if (!Array.isArray(o.targets) || o.targets.some((t) => typeof t !== 'string'))
      throw new Error(`${file}[${i}].targets: expected a list of host:port`)
    const labels: Record<string, string> = {}
    for (const [k, v] of Object.entries((o.labels ?? {}) as Record<string, unknown>)) {
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(k))
        throw new Error(`${file}[${i}].labels.${k}: not a label name`)
      labels[k] = String(v)
    }
    labels.__meta_filepath = file
    return { targets: o.targets as string[], labels, source: `${file}:${i}` }
  })
}

// A `*` in the last path element matches any run of characters but `/`.
function expandGlob(pattern: string): string[] {
  const name = basename(pattern)
  if (!name.includes('*')) return [pattern]
  const dir = dirname(pattern)
  const re = new RegExp(
    '^' +
      name
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*') +
      '$'
  )
  try {
    return readdirSync(dir)
      .filter((f) => re.test(f))
      .sort()
      .map((f) => join(dir, f))
  } catch {
    return []
  }
}

/** staticGroups returns a job's static_configs as groups. */
export function staticGroups(job: Job): Group[] {
  return job.staticConfigs.map((s, i) => ({
    targets: s.targets,
    labels: { ...s.labels },
    source: `${job.name}/static/${i}`,
  }))
}

// host:port with the scheme's port when none is given (Prometheus 2.x adds it).
function withPort(address: string, scheme: string): string {
  if (/:\d+$/.test(address) && !/^\[[^\]]*\]$/.test(address)) return address
  if (address.startsWith('[') && /\]:\d+$/.test(address)) return address
  return `${address}:${scheme === 'https' ? 443 : 80}`
}

/**
 * targetsOf turns `groups` into the job's targets: each address with its group's labels and the
 * job's (`job`, `__scheme__`, `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`,
 * `__param_<name>`), relabelled by `relabel_configs`; `instance` defaults to the address; labels
 * starting with `__` are then left out. A target relabelling drops is kept with `labels` null.
 */
export function targetsOf(job: Job, groups: readonly Group[]): Target[] {
  const out: Target[] = []
  const seen = new Set<string>()
  for (const g of groups) {
    for (const discoveredAddress of g.targets) {
      const lset = new Map<string, string>(Object.entries(g.labels))
      lset.set('__address__', discoveredAddress)
      const defaults: [string, string][] = [
        ['job', job.name],
        ['__scheme__', job.scheme],
        ['__metrics_path__', job.metricsPath],
        ['__scrape_interval__', `${job.interval / 1000}s`],
        ['__scrape_timeout__', `${job.timeout / 1000}s`],
      ]
      for (const [k, v] of Object.entries(job.params))
        if (v.length > 0) defaults.push([`__param_${k}`, v[0]])
      for (const [k, v] of defaults) if (!lset.has(k)) lset.set(k, v)
      const discovered = Object.fromEntries(lset)
      const kept = relabel(lset, job.relabel)
      const addr = lset.get('__address__') ?? ''
      const dropped = (invalid?: string): Target => ({
        job: job.name,
        discovered,
        labels: null,
        url: '',
        interval: 0,
        timeout: 0,
        key: '',
        ...(invalid === undefined ? {} : { invalid }),
      })
      if (!kept || addr === '') {
        out.push(dropped())
        continue
      }
      // As Prometheus: an address is a host and a port, nothing more (a path, query or scheme there
      // is a mistake in the config, not a URL to take apart).
      if (/[/?#@\s]/.test(addr)) {
        out.push(
          dropped(
            `${JSON.stringify(addr)} is not a valid hostname (expected host:port; the path goes in metrics_path, the scheme in scheme)`
          )
        )
        continue
      }
      const scheme = lset.get('__scheme__') ?? job.scheme
      const address = withPort(addr, scheme)
      if (!lset.has('instance')) lset.set('instance', address)
      let interval = job.interval
      let timeout = job.timeout
      try {
        interval = parseDuration(lset.get('__scrape_interval__') ?? '', 'interval')
        timeout = parseDuration(lset.get('__scrape_timeout__') ?? '', 'timeout')
      } catch {
        // A relabelled interval that does not parse keeps the job's, as Prometheus refuses the target
        // only at its own load; ours keeps scraping it.
      }
      const params = new URLSearchParams()
      for (const [k, vs] of Object.entries(job.params)) {
        const first = lset.get(`__param_${k}`)
        params.append(k, first ?? vs[0])
        for (const v of vs.slice(1)) params.append(k, v)
      }
      for (const [k, v] of lset) {
        if (k.startsWith('__param_') && job.params[k.slice(8)] === undefined)
          params.append(k.slice(8), v)
      }
      const q = params.toString()
      const url = `${scheme}://${address}${lset.get('__metrics_path__') ?? job.metricsPath}${q === '' ? '' : '?' + q}`
      const labels: Record<string, string> = {}
      for (const [k, v] of [...lset].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
        if (!k.startsWith('__') && v !== '') labels[k] = v
      }
      const key = url + '\x00' + JSON.stringify(labels)
      if (seen.has(key)) continue
      seen.add(key)
      out.push({
        job: job.name,
        discovered,
        labels,
        url,
        interval,
        timeout: Math.min(timeout, interval),
        key,
      })
    }
  }
  return out
}
