/**
 * The adapter boundary helpers of the ports' failure unions: members pass as
 * they are, anything else becomes a one-line error of the port's kind that
 * keeps the original as its cause and does not claim a retry can help.
 */
import { describe, expect, it } from 'vitest'
import { BrokerError, ConfigError, DecodeError, StoreError } from '../definition/errors.ts'
import { isPortFailure, toBrokerFailure, toStoreFailure } from './failures.ts'

describe('port failures', () => {
  it('a member of the union passes the boundary as it is', () => {
    const away = new BrokerError('Kafka is unreachable', true)
    const config = new ConfigError('group.protocol: unknown value')
    const locked = new StoreError('the file is locked', true)
    expect(toBrokerFailure('ensureTopics', away)).toBe(away)
    expect(toBrokerFailure('groupConsumer', config)).toBe(config)
    expect(toStoreFailure('apply', locked)).toBe(locked)
  })

  it('anything else is wrapped: one line saying what failed, not retriable, the original as cause', () => {
    const raw = Object.assign(new Error('Local: Broker transport failure\n  at somewhere'), {
      retriable: true,
    })
    const b = toBrokerFailure('endOffsets', raw)
    expect([b._tag, b.message, b.retriable, b.cause]).toEqual([
      'BrokerError',
      'endOffsets: Local: Broker transport failure at somewhere',
      false,
      raw,
    ])
    // An error of ours that is not of this port's union is wrapped too.
    const s = toStoreFailure('scan', new BrokerError('closed', false))
    expect([s._tag, s.message]).toEqual(['StoreError', 'scan: closed'])
    expect(toBrokerFailure('partitions', 'a string')._tag).toBe('BrokerError')
  })

  it('isPortFailure checks the tag against the port', () => {
    const decode = new DecodeError('t', 0, 1, 'bad')
    expect(isPortFailure('broker', new ConfigError('x'))).toBe(true)
    expect(isPortFailure('producer', new ConfigError('x'))).toBe(false)
    expect(isPortFailure('atomicCommit', new StoreError('x', false))).toBe(true)
    expect(isPortFailure('store', new BrokerError('x', false))).toBe(false)
    expect(isPortFailure('broker', decode)).toBe(false)
    expect(isPortFailure('broker', { _tag: 'BrokerError', message: 'look-alike' })).toBe(false)
  })
})
