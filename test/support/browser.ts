// Debian's chromium driven by playwright-core (no browser download): the dashboard's tests and
// bench use it. `.ci/run` installs the package when it is missing.
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
].filter((p): p is string => p !== undefined && p !== '')

export function chromiumPath(): string {
  const found = CANDIDATES.find((p) => existsSync(p))
  if (found === undefined) {
    throw new Error(
      `no chromium at ${CANDIDATES.join(', ')}: install it (apt-get install -y chromium) or set CHROMIUM_PATH`
    )
  }
  return found
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // Root in CI has no user namespace for the sandbox; the pages are our own, on loopback.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  })
}
