/** The broker a worker uses: an override, else STREAM_APP_BROKER, else the app's config, else sqlite://. */
import { afterEach, describe, expect, it } from 'vitest'
import { createApp } from '../src/index.ts'
import { resolveConfig } from '../src/runtime/index.ts'

const saved = process.env.STREAM_APP_BROKER
afterEach(() => {
  if (saved === undefined) delete process.env.STREAM_APP_BROKER
  else process.env.STREAM_APP_BROKER = saved
})

describe('resolveConfig: which broker', () => {
  it('environment over code, overrides (app.start, --broker) over both', () => {
    delete process.env.STREAM_APP_BROKER
    expect(resolveConfig({ id: 'a' }).broker).toBe('sqlite://')
    expect(resolveConfig({ id: 'a', broker: 'memory://' }).broker).toBe('memory://')
    process.env.STREAM_APP_BROKER = 'kafka://127.0.0.1:9092'
    expect(resolveConfig({ id: 'a' }).broker).toBe('kafka://127.0.0.1:9092')
    expect(resolveConfig({ id: 'a', broker: 'memory://' }).broker).toBe('kafka://127.0.0.1:9092')
    expect(resolveConfig({ id: 'a', broker: 'memory://' }, { broker: 'sqlite:///x' }).broker).toBe(
      'sqlite:///x',
    )
    process.env.STREAM_APP_BROKER = ''
    expect(resolveConfig({ id: 'a', broker: 'memory://' }).broker).toBe('memory://')
  })
})

describe('resolveConfig: the commit interval', () => {
  it('100 ms under exactly_once (outputs wait for their transaction), 2.8 s at least once, as set otherwise', () => {
    expect(resolveConfig({ id: 'a' }).commitIntervalMs).toBe(2800)
    expect(resolveConfig({ id: 'a', guarantee: 'exactly_once' }).commitIntervalMs).toBe(100)
    expect(resolveConfig({ id: 'a', guarantee: 'exactly_once', commitInterval: '1s' }).commitIntervalMs).toBe(
      1000,
    )
    expect(resolveConfig({ id: 'a' }, { guarantee: 'exactly_once' }).commitIntervalMs).toBe(100)
  })
})

describe('createApp: replicationFactor', () => {
  it('is a positive integer or absent (the cluster decides)', () => {
    expect(() => createApp({ id: 'a', replicationFactor: 0 })).toThrow(
      'replicationFactor must be a positive integer, got 0',
    )
    expect(() => createApp({ id: 'a', replicationFactor: 1.5 })).toThrow(/replicationFactor must be/)
    expect(resolveConfig({ id: 'a', replicationFactor: 3 }).replicationFactor).toBe(3)
    expect(resolveConfig({ id: 'a' }).replicationFactor).toBeUndefined()
  })
})
