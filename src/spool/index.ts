/**
 * @module spool
 * A durable FIFO on local disk (segment files of CRC-framed records, group commit with fdatasync, a
 * cursor of what was acknowledged downstream): the gateway's disk buffer and the remote storage
 * forward queue.
 */
export { DiskBudget, SEGMENT_BYTES, Spool, type SpoolBatch, type SpoolOwner } from './spool.js'
