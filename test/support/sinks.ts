// Real receivers for end-to-end alarm tests: an SMTP server (smtp-server) that keeps every mail, and
// an HTTP server that keeps every request.
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'

export interface Mail {
  to: string[]
  subject: string
  text: string
}

/** decodeMail reads the headers and text body nodemailer writes (folded headers, QP or base64). */
export function decodeMail(raw: string): { subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ')
  let body = raw.slice(split + 4)
  const header = (name: string) =>
    new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? ''
  const words = (s: string) =>
    s.replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_m, enc: string, data: string) =>
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64').toString('utf8')
        : Buffer.from(
            data
              .replace(/_/g, ' ')
              .replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1'
          ).toString('utf8')
    )
  const cte = header('Content-Transfer-Encoding').toLowerCase()
  if (cte === 'quoted-printable') {
    body = Buffer.from(
      body
        .replace(/=\r\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1'
    ).toString('utf8')
  } else if (cte === 'base64') body = Buffer.from(body, 'base64').toString('utf8')
  return { subject: words(header('Subject')), text: body.replace(/\r\n$/, '') }
}

/** startSmtpSink starts a plain SMTP server on 127.0.0.1 that accepts and keeps every mail. */
export async function startSmtpSink(): Promise<{
  url: string
  mails: Mail[]
  close(): Promise<void>
}> {
  const mails: Mail[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, done) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const { subject, text } = decodeMail(Buffer.concat(chunks).toString('utf8'))
        mails.push({ to: session.envelope.rcptTo.map((r) => r.address), subject, text })
        done()
      })
    },
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const port = (server.server.address() as AddressInfo).port
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  }
}

export interface Received {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

/** startHttpSink starts an HTTP server on 127.0.0.1 that answers `reply` and keeps every request. */
export async function startHttpSink(
  reply: (r: Received) => { status: number; body: string } = () => ({ status: 200, body: 'ok' })
): Promise<{ base: string; requests: Received[]; close(): Promise<void> }> {
  const requests: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      requests.push(r)
      const { status, body } = reply(r)
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body)
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  const port = (server.address() as AddressInfo).port
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections()
        server.close(() => ok())
      }),
  }
}
