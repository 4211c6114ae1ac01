// Pushing to transfer as falcon-agent does (g/transfer.go): `Transfer.Update` to the configured
// addresses in a random order, the first that answers wins. Unlike falcon, a batch no address took is
// kept (bounded) and sent again with the next one, so a transfer restart loses nothing.
import { JsonRpcClient, type Logger, type RpcCaller } from '../core/index.js'

/** AgentMetric is a MetricValue as the agent sends it. */
export interface AgentMetric {
  endpoint: string
  metric: string
  value: number
  step: number
  counterType: string
  tags: string
  timestamp: number
}

/** TransferResponse is falcon's reply to Transfer.Update. */
export interface TransferResponse {
  Message: string
  Total: number
  Invalid: number
  Latency: number
}

export interface SenderOptions {
  addrs: readonly string[]
  /** timeout: ms one call may take (falcon `transfer.timeout`). */
  timeout: number
  log: Logger
  /** most items kept for a retry while no transfer answers; the oldest go first beyond it. */
  maxPending?: number
  /** largest batch in one call. */
  batch?: number
  dial?: (address: string, options: { callTimeout: number }) => RpcCaller
}

export class TransferSender {
  private readonly clients = new Map<string, RpcCaller>()
  private pending: AgentMetric[] = []
  private failing = false
  // closed: no more calls; what a send still in flight could not deliver goes to `successor`.
  private closed = false
  private successor: TransferSender | undefined
  private readonly maxPending: number
  private readonly batch: number
  readonly stats = { sent: 0, invalid: 0, failedCalls: 0, dropped: 0 }

  constructor(private readonly options: SenderOptions) {
    this.maxPending = options.maxPending ?? 100_000
    this.batch = options.batch ?? 10_000
  }

  /** pendingCount is how many items wait for a transfer to answer. */
  get pendingCount(): number {
    return this.pending.length
  }

  /**
   * send pushes `items` (and whatever earlier sends could not deliver). Resolves true when everything
   * was delivered; false when no address answered (the items are kept for the next send).
   */
  async send(items: readonly AgentMetric[]): Promise<boolean> {
    const all = this.pending.length === 0 ? [...items] : [...this.pending, ...items]
    this.pending = []
    for (let i = 0; i < all.length; i += this.batch) {
      const part = all.slice(i, i + this.batch)
      const reply = await this.deliver(part)
      if (reply === undefined) {
        this.keep(all.slice(i))
        return false
      }
      this.stats.sent += part.length
      // A transfer that is not falcon's may answer null or no count.
      const invalid = (reply as Partial<TransferResponse> | null)?.Invalid
      if (typeof invalid === 'number') this.stats.invalid += invalid
    }
    return true
  }

  private keep(items: AgentMetric[]): void {
    if (this.closed) {
      this.successor?.keep(items)
      return
    }
    // Sends may overlap (a url check's batch beside the host's): keep what each could not deliver.
    this.pending = this.pending.length === 0 ? items : [...this.pending, ...items]
    const over = this.pending.length - this.maxPending
    if (over > 0) {
      this.pending = this.pending.slice(over)
      this.stats.dropped += over
      this.options.log.warn(`agent: ${over} metrics dropped: no transfer answered for too long`)
    }
  }

  private async deliver(items: AgentMetric[]): Promise<TransferResponse | undefined> {
    const addrs = shuffled(this.options.addrs)
    for (const addr of addrs) {
      if (this.closed) return undefined
      try {
        const reply = await this.client(addr).call<TransferResponse>('Transfer.Update', items)
        if (this.failing) {
          this.failing = false
          this.options.log.info(`agent: transfer ${addr} answers again`)
        }
        return reply
      } catch (err) {
        this.stats.failedCalls++
        if (!this.failing) {
          this.options.log.warn(
            `agent: call Transfer.Update to ${addr} failed: ${(err as Error).message}`
          )
        }
      }
    }
    if (!this.failing) {
      this.failing = true
      this.options.log.error(
        `agent: no transfer of ${addrs.join(', ')} answered; keeping the metrics and retrying with the next cycle`
      )
    }
    return undefined
  }

  private client(addr: string): RpcCaller {
    let c = this.clients.get(addr)
    if (c === undefined) {
      const options = { callTimeout: this.options.timeout }
      c =
        this.options.dial?.(addr, options) ??
        new JsonRpcClient(addr, {
          callTimeout: this.options.timeout,
          connectTimeout: this.options.timeout,
        })
      this.clients.set(addr, c)
    }
    return c
  }

  /**
   * close ends every connection. What is pending, and what sends still in flight cannot deliver,
   * goes to `successor` (the sender replacing this one on a config reload), else is dropped.
   */
  close(successor?: TransferSender): void {
    if (this.closed) return
    this.closed = true
    this.successor = successor
    const pending = this.pending
    this.pending = []
    if (pending.length > 0) successor?.keep(pending)
    for (const c of this.clients.values()) c.close()
    this.clients.clear()
  }
}

function shuffled<T>(list: readonly T[]): T[] {
  const out = [...list]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = out[i]
    out[i] = out[j]!
    out[j] = t
  }
  return out
}

/** withDefaultTags appends falcon's default_tags to a tag string, as g.SendToTransfer does. */
export function withDefaultTags(tags: string, defaultTags: string): string {
  if (defaultTags === '') return tags
  return tags === '' ? defaultTags : `${tags},${defaultTags}`
}

/** formatDefaultTags renders cfg.json's default_tags as `k=v,k2=v2`. */
export function formatDefaultTags(tags: Readonly<Record<string, string>>): string {
  return Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}
