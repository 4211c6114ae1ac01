// Falcon names as Prometheus names: the "underscores" escaping older Prometheus clients need.

/**
 * escapeName is `name` with every character outside `[a-zA-Z0-9_:]` replaced by `_` and a `_` put
 * before a leading digit (contract.md): `cpu.idle` → `cpu_idle`, `1min` → `_1min`. A name already
 * valid comes back as it is (the same string). One `_` per code point, as Prometheus escapes runes.
 */
export function escapeName(name: string): string {
  if (VALID.test(name)) return name
  let out = name.length > 0 && name.charCodeAt(0) >= 0x30 && name.charCodeAt(0) <= 0x39 ? '_' : ''
  for (const c of name) {
    const x = c.charCodeAt(0)
    const ok =
      (x >= 0x61 && x <= 0x7a) ||
      (x >= 0x41 && x <= 0x5a) ||
      (x >= 0x30 && x <= 0x39) ||
      x === 0x5f ||
      x === 0x3a
    out += ok && c.length === 1 ? c : '_'
  }
  return out
}

const VALID = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/
