// lookupTable: the frozen, prototype-less name → implementation tables of PromQL's functions.

/**
 * lookupTable returns `entries` copied into a frozen object with no prototype, so that looking up a
 * user's function name such as `constructor` or `toString` finds nothing rather than Object's members.
 */
export function lookupTable<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries))
}
