/**
 * Across real processes on one broker file: a record appended by a child
 * process wakes this process's long poll through the file watch (the safety
 * poll is turned off, so nothing else could wake it); group members in
 * different processes share partitions, hand them over only after onRevoke,
 * and a member whose process died or hung is taken over and fenced.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RebalanceListener, TopicPartition } from '@stream-app/core'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqliteBroker, type SqliteBroker } from '../src/index.ts'
import { exited, spawnFixture, tempDir, text, waitForLine } from './helpers.ts'

const open: SqliteBroker[] = []
const children: ReturnType<typeof spawnFixture>[] = []
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const b of open.splice(0)) await b.close()
})

const fmt = (tps: readonly TopicPartition[]) =>
  tps
    .map((tp) => `${tp.topic}:${tp.partition}`)
    .sort()
    .join(',')

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

describe('sqlite broker across processes', () => {
  it("a child process's append wakes a waiting fetch", async () => {
    const path = join(tempDir(), 'broker.sqlite')
    const b = openSqliteBroker({ path, maintenanceIntervalMs: 0, pollMs: 600_000 })
    open.push(b)
    await b.ensureTopics([{ name: 'events', partitions: 2 }])
    const reader = b.reader([{ topic: 'events', partition: 1, offset: 0 }])
    const pending = reader.fetch({ maxRecords: 10, maxWaitMs: 60_000 })
    const child = spawnFixture('produce.ts', [path, 'events', '1', 'from the child'])
    children.push(child)
    const batches = await pending
    expect(batches.map((x) => [x.partition, x.records.map((r) => [r.offset, text(r.value)])])).toEqual([
      [1, [[0, 'from the child']]],
    ])
    expect(await exited(child)).toBe(0)
    expect(child.lines).toEqual(['sent 0'])
  })

  it('members in two processes share partitions; the child revokes before this process is assigned', async () => {
    const dir = tempDir()
    const path = join(dir, 'broker.sqlite')
    const events = join(dir, 'events.log')
    writeFileSync(events, '')
    const b = openSqliteBroker({ path, maintenanceIntervalMs: 0, heartbeatMs: 100 })
    open.push(b)
    await b.ensureTopics([{ name: 'in', partitions: 4 }])
    const child = spawnFixture('member.ts', [path, 'app', 'in', events, '30000'])
    children.push(child)
    expect(await waitForLine(child, (l) => l.startsWith('started'))).toBe('started in:0,in:1,in:2,in:3')

    let eventsAtAssign = ''
    const listener: RebalanceListener = {
      onAssign: async () => {
        eventsAtAssign = readFileSync(events, 'utf8')
      },
      onRevoke: async () => {},
    }
    const c = b.groupConsumer({ groupId: 'app', topics: ['in'], listener })
    await c.start()
    expect(fmt(c.assignment())).toBe('in:1,in:3')
    // when this process was assigned, the child had already finished revoking them
    expect(eventsAtAssign).toBe(`assign ${child.pid} in:0,in:1,in:2,in:3\nrevoke ${child.pid} in:1,in:3\n`)
    child.stdin!.write('assignment\n')
    expect(await waitForLine(child, (l) => l.startsWith('assignment'))).toBe('assignment in:0,in:2')

    // the child leaves cleanly: everything comes back here
    child.stdin!.write('close\n')
    expect(await exited(child)).toBe(0)
    await until(() => c.assignment().length === 4, 'the partitions to come back')
    expect(fmt(c.assignment())).toBe('in:0,in:1,in:2,in:3')
    await c.close()
  })

  it('a member whose process was killed is taken over at once', async () => {
    const dir = tempDir()
    const path = join(dir, 'broker.sqlite')
    const events = join(dir, 'events.log')
    writeFileSync(events, '')
    const b = openSqliteBroker({ path, maintenanceIntervalMs: 0, heartbeatMs: 100 })
    open.push(b)
    await b.ensureTopics([{ name: 'in', partitions: 2 }])
    const child = spawnFixture('member.ts', [path, 'app', 'in', events, '600000'])
    children.push(child)
    await waitForLine(child, (l) => l.startsWith('started'))
    child.kill('SIGKILL')
    await exited(child)
    // the dead member's heartbeat is fresh and the session timeout long: only the pid check can free it
    const c = b.groupConsumer({
      groupId: 'app',
      topics: ['in'],
      listener: { onAssign: async () => {}, onRevoke: async () => {} },
    })
    await c.start()
    expect(fmt(c.assignment())).toBe('in:0,in:1')
    expect((await c.members()).length).toBe(1)
    await c.close()
  })

  it('a hung member is taken over after the session timeout and cannot commit any more', async () => {
    const dir = tempDir()
    const path = join(dir, 'broker.sqlite')
    const events = join(dir, 'events.log')
    writeFileSync(events, '')
    const b = openSqliteBroker({ path, maintenanceIntervalMs: 0, heartbeatMs: 100, sessionTimeoutMs: 800 })
    open.push(b)
    await b.ensureTopics([{ name: 'in', partitions: 2 }])
    const child = spawnFixture('member.ts', [path, 'app', 'in', events, '800'])
    children.push(child)
    await waitForLine(child, (l) => l.startsWith('started'))
    child.kill('SIGSTOP')
    const assigned: string[] = []
    const c = b.groupConsumer({
      groupId: 'app',
      topics: ['in'],
      listener: { onAssign: async (tps) => void assigned.push(fmt(tps)), onRevoke: async () => {} },
    })
    await c.start()
    expect(fmt(c.assignment())).toBe('in:0,in:1')
    // the stale member wakes up: its commit is refused, then it notices, revokes and rejoins
    child.stdin!.write('commit in 0 99\n')
    child.kill('SIGCONT')
    const reply = await waitForLine(child, (l) => l.startsWith('commit'))
    // refused either way: before it rejoined (no longer a member) or after (in:0 is not its partition)
    expect(reply).toMatch(/^commit-error group 'app' on .*(no longer in the group|in\[0\] is not assigned)/)
    await waitForLine(child, (l) => l.startsWith('revoked in:0,in:1'))
    await until(() => c.assignment().length === 1, 'the rejoined member to get its share')
    expect(await c.committed([{ topic: 'in', partition: 0 }])).toEqual([])
    child.stdin!.write('close\n')
    expect(await exited(child)).toBe(0)
    await c.close()
  })
})
