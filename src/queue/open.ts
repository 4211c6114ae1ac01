// The one place a component's `redis` setting becomes a queue.
import type { Logger } from '../core/index.js'
import { memoryQueue } from './memory.js'
import type { Queue } from './queue.js'
import { redisQueue } from './redis.js'

/**
 * openQueue returns Redis lists at `redis` (falcon's names, shared with other processes), or an
 * in-process queue when `redis` is '' (only components of this process can reach it).
 */
export function openQueue(redis: string, spillDir: string, log: Logger): Queue {
  return redis === '' ? memoryQueue() : redisQueue({ url: redis, spillDir, log })
}
