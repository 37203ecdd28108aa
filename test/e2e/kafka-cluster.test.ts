/**
 * stream-app on a real 3-node Kafka cluster (kafka-cluster.ts starts it once
 * for this file; the scenarios run in order and share it):
 * - replication: every internal topic gets the cluster's default factor (3),
 *   changelogs min.insync.replicas 2, and a topic created earlier with factor
 *   1 is a startup warning naming it, listed as the brokers report it;
 * - a broker lost mid-stream (kafka-cluster-loss.ts): exact tables and sink
 *   under exactly-once, nothing lost under at-least-once, and the pause measured;
 * - the whole cluster away for 15 s: workers serve HTTP and resume by themselves;
 * - partitions added to a source topic: refused, naming the tables.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Cluster } from './kafka-cluster.ts'
import { startCluster } from './kafka-cluster.ts'
import {
  type Apps,
  brokerLoss,
  cliOn,
  clusterOutage,
  KEYS,
  settled,
  startApps,
} from './kafka-cluster-loss.ts'
import {
  COUNTER_APP,
  explained,
  getJson,
  openBroker,
  runWorker,
  tempDir,
  uniq,
  until,
} from './kafka-helpers.ts'
import { killAll } from './proc.ts'

const dir = tempDir('kafka-cluster')
let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster()
  console.log(`3-node cluster ready in ${cluster.readySeconds ?? '?'} s at ${cluster.bootstrap}`)
}, 180_000)
afterAll(async () => {
  await killAll()
  await cluster?.release()
  dir.remove()
}, 120_000)

describe('kafka:// on a 3-node cluster', () => {
  it('replicates internal topics 3 times, changelogs with min ISR 2, and warns of a topic replicated less', async () => {
    const id = uniq('repl')
    const env = { E2E_ID: id, E2E_PARTITIONS: '3', STREAM_APP_BROKER: `kafka://${cluster.bootstrap}` }
    // Made earlier, by hand, with one replica: the app must say so, and leave it alone.
    const broker = await openBroker(`kafka://${cluster.bootstrap}`)
    try {
      await broker.ensureTopics([{ name: `${id}-__leader`, partitions: 1, replicas: 1 }])
    } finally {
      await broker.close()
    }
    const worker = runWorker(COUNTER_APP, 'w', dir.path, env)
    const url = await explained(worker.url(), [worker])
    await explained(
      worker.waitFor(/topic '\S+-__leader' has replication factor 1, less than the 3 /, 60_000),
      [worker],
    )
    const r = await cliOn(cluster, ['topics', COUNTER_APP, '--json'], env, dir.path)
    expect(r.code, r.err).toBe(0)
    type Row = { name: string; internal: boolean; replicationFactor: number; inSyncReplicas: number }
    const rows = JSON.parse(r.out) as Row[]
    const byName = new Map(rows.map((t) => [t.name, t]))
    const internal = [
      `${id}-counts-changelog`,
      `${id}-clicks-changelog`,
      `${id}-__replies`,
      `${id}-__members`,
    ]
    for (const name of internal)
      expect(byName.get(name), `${name} in ${r.out}`).toMatchObject({
        internal: true,
        replicationFactor: 3,
        inSyncReplicas: 3,
      })
    expect(byName.get(`${id}-__leader`)).toMatchObject({ internal: true, replicationFactor: 1 })
    // Declared topics without `replicas` get the cluster's default too.
    expect(byName.get(`${id}-events`)).toMatchObject({ internal: false, replicationFactor: 3 })
    // The worker's /topics says the same.
    const web = (await getJson<Row[]>(`${url}/topics`)).body
    expect(web.find((t) => t.name === `${id}-counts-changelog`)).toMatchObject({
      internal: true,
      replicationFactor: 3,
    })
    expect((await cluster.topicConfigs(`${id}-counts-changelog`))['min.insync.replicas']).toBe('2')
    expect(await worker.stop()).toBe(0)
    // It learnt the cluster's default replication factor from a probe topic it created. A worker
    // that may create nothing (declareTopics false, as under strict ACLs) starts on the topics
    // that now exist without creating one, the probe included.
    expect(worker.log()).toMatch(/from a probe topic/)
    const strict = runWorker(COUNTER_APP, 'strict', dir.path, { ...env, E2E_DECLARE_TOPICS: 'false' })
    const strictUrl = await explained(strict.url(), [strict])
    await until(
      'the declareTopics: false worker to be ready',
      async () => {
        const health = await getJson<{ status: string }>(`${strictUrl}/health`)
        return health.status === 200 ? true : undefined
      },
      { timeoutMs: 90_000, everyMs: 250, context: () => strict.log() },
    )
    expect(await strict.stop()).toBe(0)
    expect(strict.log()).not.toMatch(/probe topic|could not learn the default replication factor/)
  }, 180_000)

  let apps: Apps
  it('loses a broker mid-stream: exactly-once stays exact, at-least-once loses nothing', async () => {
    apps = await startApps(cluster, dir.path)
    await brokerLoss(cluster, apps)
  }, 300_000)

  it('serves HTTP while the whole cluster is away for 15 s, and resumes by itself', async () => {
    await clusterOutage(cluster, apps)
  }, 240_000)

  it('refuses partitions added to a source topic, naming the tables whose keys would move', async () => {
    const { alos } = apps
    const events = `${alos.id}-events`
    await cluster.createPartitions(events, alos.partitions + 2)
    // The periodic check (every 10 s) sees it; each worker stops with the one clear line.
    for (const w of alos.workers) {
      await explained(
        w.waitFor(
          new RegExp(
            `source topic '${events}' went from ${alos.partitions} to ${alos.partitions + 2} partitions .*'counts', 'clicks'`,
          ),
          60_000,
        ),
        [w],
      )
      expect(await w.exited()).toBe(1)
    }
    // The other app, on its own topics, is untouched.
    expect(await settled(apps.eos)).toEqual(Array(KEYS).fill(apps.eos.produced / KEYS))
    for (const w of apps.eos.workers) expect(w.child.exitCode).toBeNull()
  }, 120_000)
})
