/**
 * The 3-node test cluster of the replication tests: scripts/kafka.sh with
 * KAFKA_NODES=3 on ports from KAFKA_CLUSTER_PORT (29092: clients on 29092,
 * 29095, 29098), started by the one test file that needs it and stopped after
 * it unless it was already running (then from empty data dirs). Nodes are stopped, killed and started with
 * the script, without blocking the test process (workers' pipes keep being
 * drained). Leaders and topic configs are read with the admin client and
 * Kafka's own TopicCommand.
 */
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { AdminClient, call } from '../../packages/kafka/src/client.ts'

const script = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url))
export const NODES = 3
const env = {
  ...process.env,
  KAFKA_NODES: String(NODES),
  KAFKA_PORT: process.env.KAFKA_CLUSTER_PORT ?? '29092',
}

function kafkaSh(args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')))
    child.on('exit', (code) => resolve({ code, out, err }))
  })
}

async function must(args: readonly string[]): Promise<string> {
  const r = await kafkaSh(args)
  if (r.code !== 0) throw new Error(`scripts/kafka.sh ${args.join(' ')} failed (${r.code}): ${r.err}`)
  return r.out + r.err
}

export interface Cluster {
  /** host:port,host:port,host:port */
  readonly bootstrap: string
  /** Seconds the script took to get every node ready (its own measure). */
  readonly readySeconds: number | undefined
  killNode(i: number): Promise<void>
  stopNode(i: number): Promise<void>
  startNode(i: number): Promise<void>
  /**
   * Every node at once, with SIGKILL (the whole cluster going away): a SIGTERM'd node waits for
   * its peers to take over its partitions, so a clean stop of all three drags on for 15 s.
   */
  killAll(): Promise<void>
  startAll(): Promise<void>
  /** Node index (0..2) leading each partition of the topics. */
  leaders(topics: readonly string[]): Promise<Map<string, number>>
  /** A topic's configs as the brokers report them (TopicCommand --describe). */
  topicConfigs(topic: string): Promise<Record<string, string>>
  /** Adds partitions to a topic (admin createPartitions). */
  createPartitions(topic: string, total: number): Promise<void>
  /** Stops the cluster if this run started it. */
  release(): Promise<void>
}

export async function startCluster(): Promise<Cluster> {
  const wasRunning = (await kafkaSh(['status'])).code === 0
  // A cluster of its own starts empty: the topics of earlier runs would make the restart after
  // the whole-cluster kill recover every one of their logs.
  if (!wasRunning) await must(['reset'])
  const out = await must(['start'])
  const bootstrap = /KAFKA_BOOTSTRAP=(\S+)/.exec(out)?.[1]
  if (!bootstrap) throw new Error(`scripts/kafka.sh start printed no bootstrap: ${out}`)
  const readySeconds = Number(/ready in (\d+)s/.exec(out)?.[1] ?? Number.NaN)
  const libs = /KAFKA_LIBS=(\S+)/.exec(
    spawnSync('bash', [script, 'fetch'], { env, encoding: 'utf8' }).stdout,
  )?.[1]
  const admin = AdminClient.create({ 'bootstrap.servers': bootstrap, 'client.id': 'cluster-test' })
  const describe = (topics: readonly string[]) =>
    call<{ name: string; partitions: { partition: number; leader: { id: number } | null }[] }[]>((cb) =>
      admin.describeTopics([...topics], { timeout: 10_000 }, cb),
    )
  return {
    bootstrap,
    readySeconds: Number.isNaN(readySeconds) ? undefined : readySeconds,
    killNode: async (i) => void (await must(['kill-node', String(i)])),
    stopNode: async (i) => void (await must(['stop-node', String(i)])),
    startNode: async (i) => void (await must(['start-node', String(i)])),
    killAll: async () => {
      for (let i = 0; i < NODES; i++) await must(['kill-node', String(i)])
    },
    startAll: async () => void (await must(['start'])),
    leaders: async (topics) => {
      const out = new Map<string, number>()
      for (const t of await describe(topics))
        for (const p of t.partitions) if (p.leader) out.set(`${t.name}[${p.partition}]`, p.leader.id - 1)
      return out
    },
    topicConfigs: async (topic) => {
      if (!libs) throw new Error('scripts/kafka.sh fetch printed no KAFKA_LIBS')
      const r = spawnSync(
        'java',
        [
          '-cp',
          `${libs}/*`,
          'org.apache.kafka.tools.TopicCommand',
          '--bootstrap-server',
          bootstrap,
          '--describe',
          '--topic',
          topic,
        ],
        { encoding: 'utf8' },
      )
      const configs = /Configs:\s*(\S*)/.exec(r.stdout)?.[1]
      if (r.status !== 0 || configs === undefined)
        throw new Error(`TopicCommand --describe ${topic} failed: ${r.stdout}${r.stderr}`)
      return Object.fromEntries(
        configs
          .split(',')
          .filter(Boolean)
          .map((kv) => kv.split('=') as [string, string]),
      )
    },
    createPartitions: (topic, total) =>
      call((cb) => admin.createPartitions(topic, total, 15_000, cb)).then(() => {}),
    release: async () => {
      admin.disconnect()
      if (!wasRunning) await must(['stop'])
    },
  }
}
