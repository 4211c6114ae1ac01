// Test support shared by every area's tests: a logger that keeps its lines, and a bounded wait.
import type { Logger } from './service.js'

/** recordingLogger keeps every line as `level message`, for tests that assert what was logged. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  }
}

/** waitUntil polls `cond` every 20 ms until it holds, or throws naming `what` after `ms`. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 10_000
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
