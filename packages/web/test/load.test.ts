/**
 * The server under load and under abuse, on loopback: a burst of concurrent
 * requests next to a client that dribbles its headers byte by byte, clients
 * that stall (cut off by the header and request timeouts), and a close() that
 * does not wait for idle keep-alive connections.
 */
import { Agent, get as httpGet } from 'node:http'
import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import { settled, shop, startWeb } from './helpers.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Opens a raw connection, writes `parts` with `gapMs` between them, resolves with all it read once closed. */
function rawClient(url: string, parts: readonly string[], gapMs: number, opts: { endAfter?: boolean } = {}) {
  return new Promise<string>((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const s = connect(Number(port), hostname)
    let out = ''
    let closed = false
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      out += d
    })
    s.on('error', reject)
    s.on('close', () => {
      closed = true
      resolve(out)
    })
    s.on('connect', async () => {
      for (const p of parts) {
        if (closed) return
        s.write(p)
        await sleep(gapMs)
      }
      if (opts.endAfter) s.end()
    })
  })
}

const httpStatus = (url: string, agent: Agent) =>
  new Promise<number>((resolve, reject) => {
    httpGet(url, { agent }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    }).on('error', reject)
  })

describe('web server under load', () => {
  it('answers 300 concurrent requests and a client that sends its headers byte by byte', async () => {
    const w = await startWeb(shop().definition)
    try {
      await settled(w.url)
      await w.rt.topicHandles.orders!.send({ id: '1', customer: 'alice', amount: 5 }, { key: 'alice' })
      await w.rt.idle()
      const request = 'GET /tables/revenue/alice HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'
      const slow = rawClient(w.url, [...request], 3)
      const paths = [
        '/health',
        '/tables/revenue/alice',
        '/revenue/alice',
        '/agents',
        '/topics',
        '/slow/20',
        '/metrics',
      ]
      const statuses = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          fetch(`${w.url}${paths[i % paths.length]}`).then(async (r) => {
            await r.arrayBuffer()
            return r.status
          }),
        ),
      )
      expect(statuses).toHaveLength(300)
      expect(statuses.every((s) => s === 200)).toBe(true)
      const answer = await slow
      expect(answer).toMatch(/^HTTP\/1\.1 200 /)
      expect(answer).toContain('{"key":"alice","value":5}')
    } finally {
      await w.stop()
    }
  })

  it('cuts off clients that stall in their headers or body, and keeps serving', async () => {
    const w = await startWeb(shop().definition, {
      server: { timeouts: { headersMs: 300, requestMs: 600 } },
    })
    try {
      await settled(w.url)
      // Headers never finished: the header timeout closes the connection with a 408.
      const stalledHeaders = rawClient(w.url, ['GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n'], 0)
      // Body announced but never sent in full: the request timeout does the same.
      const stalledBody = rawClient(
        w.url,
        [
          'POST /scores HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id":',
        ],
        0,
      )
      const ok = await fetch(`${w.url}/health`)
      expect(ok.status).toBe(200)
      const h = await stalledHeaders
      expect(h).toMatch(/^HTTP\/1\.1 408 /)
      expect(h).toContain('{"error":"request timeout"}')
      const b = await stalledBody
      expect(b === '' || /^HTTP\/1\.1 (408|400) /.test(b)).toBe(true)
      expect((await fetch(`${w.url}/health`)).status).toBe(200)
    } finally {
      await w.stop()
    }
  })

  it('close() ends idle keep-alive connections at once and lets an in-flight request finish', async () => {
    const w = await startWeb(shop().definition)
    const agent = new Agent({ keepAlive: true, maxSockets: 8 })
    try {
      await settled(w.url)
      const first = await Promise.all(Array.from({ length: 8 }, () => httpStatus(`${w.url}/health`, agent)))
      expect(first.every((s) => s === 200)).toBe(true)
      const inFlight = httpStatus(`${w.url}/slow/200`, agent)
      await sleep(50)
      // The slow request took one pooled connection; the others sit idle.
      const idle = Object.values(agent.freeSockets).flat()
      expect(idle.length).toBeGreaterThan(0)
      const closed = w.web.close()
      // The idle connections are gone while the slow request is still being answered.
      const idleClosedFirst = await Promise.race([
        Promise.all(
          idle.map((s) => (s?.destroyed ? undefined : new Promise((r) => s?.once('close', r)))),
        ).then(() => true),
        inFlight.then(() => false),
      ])
      expect(idleClosedFirst).toBe(true)
      expect(await inFlight).toBe(200)
      await closed
      await expect(fetch(`${w.url}/health`)).rejects.toThrow()
    } finally {
      agent.destroy()
      await w.stop()
    }
  })
})
