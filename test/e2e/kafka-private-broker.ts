/**
 * A Kafka broker of one test's own, for the outage test: same jars and the
 * same single-node KRaft settings as scripts/kafka.sh, but its own free ports
 * and temp data dir, started and stopped as a child process of the test. The
 * shared test broker cannot be stopped for one test: every other test file
 * (run in parallel by vitest) and every other process using it would see the
 * outage too.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDir } from './kafka-helpers.ts'

const script = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url))

/** A port nobody listens on right now. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = new Socket()
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
    s.connect(port, '127.0.0.1')
  })

export interface PrivateKafka {
  /** host:port */
  readonly bootstrap: string
  start(): Promise<void>
  /** SIGTERM, as `scripts/kafka.sh stop` does; resolves when the JVM has exited. */
  stop(): Promise<void>
  /** Stops it (if running) and deletes its data. */
  destroy(): Promise<void>
}

export async function privateKafka(): Promise<PrivateKafka> {
  const fetched = spawnSync('bash', [script, 'fetch'], { encoding: 'utf8' })
  const libs = /KAFKA_LIBS=(\S+)/.exec(fetched.stdout)?.[1]
  if (fetched.status !== 0 || !libs) throw new Error(`scripts/kafka.sh fetch failed: ${fetched.stderr}`)
  const dir = tempDir('kafka-private')
  const [port, cport] = [await freePort(), await freePort()]
  const conf = join(dir.path, 'server.properties')
  const log4j = join(dir.path, 'log4j2.properties')
  const serverLog = join(dir.path, 'server.log')
  mkdirSync(join(dir.path, 'data'))
  writeFileSync(
    conf,
    [
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.voters=1@127.0.0.1:${cport}`,
      `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}`,
      `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
      'inter.broker.listener.name=PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      `log.dirs=${join(dir.path, 'data')}`,
      'num.partitions=1',
      'offsets.topic.replication.factor=1',
      'offsets.topic.num.partitions=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'transaction.state.log.num.partitions=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'group.initial.rebalance.delay.ms=0',
      'group.min.session.timeout.ms=1000',
      // As scripts/kafka.sh: short consumer-protocol sessions and heartbeats for tests.
      'group.consumer.min.session.timeout.ms=3000',
      'group.consumer.session.timeout.ms=10000',
      'group.consumer.min.heartbeat.interval.ms=250',
      'group.consumer.heartbeat.interval.ms=500',
      'auto.create.topics.enable=false',
      'log.cleaner.dedupe.buffer.size=2097152',
      'num.network.threads=2',
      'num.io.threads=2',
      '',
    ].join('\n'),
  )
  writeFileSync(
    log4j,
    [
      'status = warn',
      'appender.file.type = File',
      'appender.file.name = file',
      `appender.file.fileName = ${serverLog}`,
      'appender.file.layout.type = PatternLayout',
      'appender.file.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = INFO',
      'rootLogger.appenderRef.file.ref = file',
      '',
    ].join('\n'),
  )
  const java = (main: string, args: readonly string[]) => [
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${log4j}`,
    '-cp',
    `${libs}/*`,
    main,
    ...args,
  ]
  const format = spawnSync(
    'java',
    java('kafka.tools.StorageTool', [
      'format',
      '--ignore-formatted',
      '-t',
      'cHJpdmF0ZS1vdXRhZ2UtdGVzdA',
      '-c',
      conf,
    ]),
    { encoding: 'utf8' },
  )
  if (format.status !== 0)
    throw new Error(`formatting the private Kafka failed: ${format.stdout}${format.stderr}`)

  let jvm: ChildProcess | undefined
  const stop = async () => {
    const p = jvm
    jvm = undefined
    if (!p || p.exitCode !== null) return
    const exited = new Promise((r) => p.once('exit', r))
    p.kill('SIGTERM')
    const killer = setTimeout(() => p.kill('SIGKILL'), 30_000)
    await exited
    clearTimeout(killer)
  }
  const start = async () => {
    if (jvm) return
    const started = existsSync(serverLog)
      ? readFileSync(serverLog, 'utf8').split('Kafka Server started').length
      : 1
    const p = spawn('java', java('kafka.Kafka', [conf]), { stdio: 'ignore' })
    jvm = p
    process.once('exit', () => p.kill('SIGKILL'))
    const deadline = Date.now() + 90_000
    for (;;) {
      if (p.exitCode !== null) throw new Error(`the private Kafka exited during startup (see ${serverLog})`)
      const log = existsSync(serverLog) ? readFileSync(serverLog, 'utf8') : ''
      if (log.split('Kafka Server started').length > started && (await portOpen(port))) return
      if (Date.now() > deadline) {
        await stop()
        throw new Error(`the private Kafka was not ready within 90 s (see ${serverLog})`)
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  }
  return {
    bootstrap: `127.0.0.1:${port}`,
    start,
    stop,
    destroy: async () => {
      await stop()
      dir.remove()
    },
  }
}
