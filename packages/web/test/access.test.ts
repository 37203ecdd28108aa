/**
 * The pieces of web access settings that need no server: which bind addresses
 * count as loopback, the start-up warning for an exposed worker without a
 * token, how the token and body limit resolve (the environment over code, an
 * override given to start() over both), and the headers a forward carries.
 */
import { createApp, type WebConfig } from '@stream-app/core'
import { makeLogger, resolveConfig } from '@stream-app/core/runtime'
import { afterEach, describe, expect, it } from 'vitest'
import { addForwardToken, authorized, isLoopback, TOKEN_HEADER, warnIfExposed } from '../src/access.ts'

const env = process.env.STREAM_APP_WEB_TOKEN
afterEach(() => {
  if (env === undefined) delete process.env.STREAM_APP_WEB_TOKEN
  else process.env.STREAM_APP_WEB_TOKEN = env
})

const web = (config: WebConfig, overrides: WebConfig = {}) =>
  resolveConfig(createApp({ id: 'access', web: config }).definition.config, { web: overrides }).web

const warnings = (w: ReturnType<typeof web>) => {
  const lines: string[] = []
  warnIfExposed(w, makeLogger({ level: 'info', write: (l) => lines.push(l) }))
  return lines
}

describe('web access settings', () => {
  it('tells loopback bind addresses from the others', () => {
    for (const h of [
      '127.0.0.1',
      '127.0.1.1',
      'localhost',
      'api.localhost',
      '::1',
      '[::1]',
      '::ffff:127.0.0.1',
    ])
      expect([h, isLoopback(h)]).toEqual([h, true])
    for (const h of ['0.0.0.0', '::', '10.0.0.5', 'worker-1.internal', '::ffff:10.0.0.1'])
      expect([h, isLoopback(h)]).toEqual([h, false])
  })

  it('warns at start when bound beyond loopback without a token, and only then', () => {
    delete process.env.STREAM_APP_WEB_TOKEN
    const exposed = warnings(web({ host: '0.0.0.0', port: 7070 }))
    expect(exposed).toHaveLength(1)
    expect(exposed[0]).toMatch(
      /WARN.*the web server binds 0\.0\.0\.0 without a token: anyone who reaches port 7070 can read every table .*set web\.token or STREAM_APP_WEB_TOKEN/,
    )
    expect(warnings(web({ host: '0.0.0.0', token: 's3cret' }))).toEqual([])
    expect(warnings(web({}))).toEqual([])
    process.env.STREAM_APP_WEB_TOKEN = 'from-env'
    expect(warnings(web({ host: '0.0.0.0' }))).toEqual([])
  })

  it('takes the token from start() overrides, then the environment, then the config', () => {
    delete process.env.STREAM_APP_WEB_TOKEN
    expect(web({}).token).toBeUndefined()
    expect(web({ token: 'code' }).token).toBe('code')
    process.env.STREAM_APP_WEB_TOKEN = 'env'
    expect(web({ token: 'code' }).token).toBe('env')
    expect(web({ token: 'code' }, { token: 'start' }).token).toBe('start')
    process.env.STREAM_APP_WEB_TOKEN = 'has space'
    expect(() => web({})).toThrow(/^STREAM_APP_WEB_TOKEN must be a non-empty string without spaces$/)
  })

  it('resolves the body limit: 1 MiB by default, bytes or a size with a unit', () => {
    expect(web({}).bodyLimit).toBe(1024 * 1024)
    expect(web({ bodyLimit: 5000 }).bodyLimit).toBe(5000)
    expect(web({ bodyLimit: '1.5kb' }).bodyLimit).toBe(1536)
    expect(web({ bodyLimit: '2 MB' }).bodyLimit).toBe(2 * 1024 * 1024)
    expect(() => web({}, { bodyLimit: 0 })).toThrow(/web\.bodyLimit must be a whole number of bytes/)
    expect(() => web({}, { bodyLimit: '1tb' })).toThrow(/got "1tb"/)
  })

  it("forwards the token as the bearer, or beside a client's own Authorization", () => {
    const plain = new Headers()
    addForwardToken(plain, 'tok')
    expect(plain.get('authorization')).toBe('Bearer tok')
    expect(authorized(plain, 'tok')).toBe(true)

    const own = new Headers({ authorization: 'Basic YW5uOng=' })
    addForwardToken(own, 'tok')
    expect(own.get('authorization')).toBe('Basic YW5uOng=')
    expect(own.get(TOKEN_HEADER)).toBe('tok')
    expect(authorized(own, 'tok')).toBe(true)
    expect(authorized(own, 'other')).toBe(false)

    const none = new Headers()
    addForwardToken(none, undefined)
    expect([...none.keys()]).toEqual([])
    expect(authorized(new Headers({ authorization: 'Bearer tok2' }), 'tok')).toBe(false)
  })
})
