// Test support: the Redis that tests of queues run against, PEREGRINE_TEST_REDIS or the local
// default. Tests that need it are skipped when it does not answer, unless PEREGRINE_TEST_REDIS is
// set (CI sets it, so a missing server fails loudly there).
import { Redis } from 'ioredis'

/** TestRedis is the test Redis's URL, and `skip` for the tests that need it (false: it answers). */
export interface TestRedis {
  url: string
  skip: string | false
}

/** testRedis probes the test Redis; throws if PEREGRINE_TEST_REDIS is set and it is silent. */
export async function testRedis(): Promise<TestRedis> {
  const url = process.env.PEREGRINE_TEST_REDIS ?? 'redis://127.0.0.1:6379/0'
  const answers = await pong(url)
  if (process.env.PEREGRINE_TEST_REDIS && !answers) {
    throw new Error(`PEREGRINE_TEST_REDIS=${url} is set but Redis does not answer`)
  }
  return { url, skip: answers ? false : `Redis is not reachable at ${url}` }
}

async function pong(url: string): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  })
  probe.on('error', () => undefined)
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

/** dropKeys deletes the keys starting with `prefix` (a test namespace) from the Redis at `url`. */
export async function dropKeys(url: string, prefix: string): Promise<void> {
  // Without keyPrefix: ioredis would prefix the KEYS pattern and the DEL arguments again.
  const plain = new Redis(url).on('error', () => undefined)
  try {
    const keys = await plain.keys(prefix + '*')
    if (keys.length > 0) await plain.del(...keys)
  } finally {
    plain.disconnect()
  }
}
