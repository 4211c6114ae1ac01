/**
 * @module queue
 * Event queues with Open-Falcon's semantics: named FIFO lists (judge LPUSHes events to `event:p0..p6`,
 * alarm BRPOPs them and LPUSHes `/sms`, `/mail`, `/im`, `/queue/user/*`), kept in process or in Redis.
 * Imports only core.
 */
export type { Queue, QueueStats } from './queue.js'
export { memoryQueue } from './memory.js'
export { redisQueue, SPILL_FILE, type RedisQueueOptions } from './redis.js'
export { openQueue } from './open.js'
export { dropKeys, testRedis, type TestRedis } from './testing.js'
export { registerQueueMetrics } from './metrics.js'
