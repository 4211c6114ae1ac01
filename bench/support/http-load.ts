// A cheap HTTP client for load generators: node:http over kept-alive connections, bodies sent as the
// bytes given, answers gathered whole. The load generator shares the machine's two cores with the
// server it measures: fetch (undici) took most of a core at 400 pushes a second, this a fraction of it.
import http from 'node:http'

/** Answer is an HTTP answer: its status and body text. */
export interface Answer {
  status: number
  text: string
}

/** HttpLoad posts bodies over at most `connections` kept-alive connections. */
export class HttpLoad {
  readonly #agent: http.Agent
  readonly #timeoutMs: number

  constructor(connections: number, timeoutMs = 120_000) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: connections })
    this.#timeoutMs = timeoutMs
  }

  /** post sends `body` to `url` and resolves with the answer; rejects on a network error or timeout. */
  post(url: URL, body: Uint8Array | string, headers: Record<string, string>): Promise<Answer> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body
    return new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        {
          agent: this.#agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: 'POST',
          headers: { ...headers, 'content-length': String(bytes.length) },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') })
          )
          res.on('error', reject)
        }
      )
      req.setTimeout(this.#timeoutMs, () =>
        req.destroy(new Error(`no answer from ${url.host} in ${this.#timeoutMs} ms`))
      )
      req.on('error', reject)
      req.end(bytes)
    })
  }

  close(): void {
    this.#agent.destroy()
  }
}
