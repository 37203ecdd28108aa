/** The URL a worker advertises to the others for table queries. */
import { hostname } from 'node:os'
import { describe, expect, it } from 'vitest'
import { hostForUrl } from '../src/server.ts'

describe('advertised web URL', () => {
  it('names the machine for a wildcard bind, and the address otherwise', () => {
    expect(hostForUrl('0.0.0.0')).toBe(hostname())
    expect(hostForUrl('::')).toBe(hostname())
    expect(hostForUrl('127.0.0.1')).toBe('127.0.0.1')
    expect(hostForUrl('::1')).toBe('[::1]')
    expect(hostForUrl('worker-3.internal')).toBe('worker-3.internal')
  })
})
