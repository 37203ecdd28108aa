/**
 * `pnpm bench --only kstreams`: Kafka Streams (the Java library, one stream
 * thread) next to stream-app on the same broker, the same input and in the
 * same run: the passthrough in alternating rounds with the hand-written loop
 * and stream-app, and the word count (10k keys into a table with changelog)
 * alternating with stream-app's. Its jars come from Maven Central through
 * `mvn` (fetched once into .cache/kstreams); without Java 17, javac and mvn
 * the workload fails with the reason.
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openKafkaBroker } from '@stream-app/kafka'
import { benchKafkaPassthrough, deleteTopics } from '@stream-app/kafka/bench'
import { ensureKafka } from './kafka.ts'
import { preloadWords, runWordCountInChild } from './kafka-wordcount.ts'
import { best, median, type Result } from './report.ts'

const KSTREAMS_VERSION = process.env.KSTREAMS_VERSION ?? '4.4.0'
const SOURCE = fileURLToPath(new URL('../kstreams/KStreamsBench.java', import.meta.url))
const CACHE = fileURLToPath(new URL('../../../.cache/kstreams/', import.meta.url))

/** The classpath of the Kafka Streams bench: jars fetched with Maven once, the class compiled when its source changed. */
export function kstreamsClasspath(): string {
  const lib = join(CACHE, `lib-${KSTREAMS_VERSION}`)
  const classes = join(CACHE, 'classes')
  mkdirSync(CACHE, { recursive: true })
  if (!existsSync(join(lib, '.complete'))) {
    const dep = (g: string, a: string, v: string) =>
      `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`
    const pom = join(CACHE, 'pom.xml')
    writeFileSync(
      pom,
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>stream-app.bench</groupId><artifactId>kstreams-bench</artifactId><version>0</version>
<dependencies>${dep('org.apache.kafka', 'kafka-streams', KSTREAMS_VERSION)}${dep('org.slf4j', 'slf4j-nop', '1.7.36')}</dependencies></project>\n`,
    )
    process.stderr.write(`bench kstreams: fetching Kafka Streams ${KSTREAMS_VERSION} jars with Maven ...\n`)
    const r = spawnSync(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        pom,
        'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
        `-DoutputDirectory=${lib}`,
        '-DincludeScope=runtime',
      ],
      { encoding: 'utf8' },
    )
    if (r.status !== 0)
      throw new Error(
        `mvn could not fetch Kafka Streams ${KSTREAMS_VERSION}: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' ') || r.error?.message}`,
      )
    writeFileSync(join(lib, '.complete'), '')
  }
  const cp = `${lib}/*`
  const compiled = join(classes, 'KStreamsBench.class')
  if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(SOURCE).mtimeMs) {
    const r = spawnSync('javac', ['-cp', cp, '-d', classes, SOURCE], { encoding: 'utf8' })
    if (r.status !== 0)
      throw new Error(`javac failed: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`)
  }
  return `${classes}:${cp}`
}

export interface KStreamsRun {
  readonly rate: number
  /** process CPU (all threads) per record, µs */
  readonly cpuUs: number
  readonly peakRssMb: number
  /** the topics Kafka Streams created for itself (its changelog), to delete */
  readonly internalTopics: readonly string[]
}

/** One Kafka Streams run in its own JVM; resolves once it processed n records and closed. */
export function runKStreams(
  classpath: string,
  mode: 'passthrough' | 'wordcount' | 'wordcount-memory' | 'wordcount-nocache',
  bootstrap: string,
  input: string,
  output: string,
  n: number,
): Promise<KStreamsRun> {
  const appId = `bench-ks-${mode}-${randomUUID().slice(0, 8)}`
  const child = spawn(
    'java',
    ['-cp', classpath, 'KStreamsBench', mode, bootstrap, input, output, String(n), appId],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
  })
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => {
      const m = /rate=(\d+) cpuUs=([\d.]+) peakRssMb=(\d+)/.exec(out)
      if (code !== 0 || !m)
        reject(new Error(`Kafka Streams (${mode}) ended with ${code}: ${err.trim().slice(-400)}`))
      else
        resolve({
          rate: Number(m[1]),
          cpuUs: Number(m[2]),
          peakRssMb: Number(m[3]),
          internalTopics: mode === 'passthrough' ? [] : [`${appId}-counts-changelog`],
        })
    })
  })
}

export async function benchKStreams(n = 1_000_000, rounds = 3): Promise<Result[]> {
  const classpath = kstreamsClasspath()
  const { bootstrap, stop } = ensureKafka()
  try {
    const ksPass: KStreamsRun[] = []
    const pass = await benchKafkaPassthrough({
      messages: n,
      partitions: 8,
      bootstrap,
      rounds,
      runs: ['ceiling', 'streamApp'],
      streamAppInChild: true,
      others: {
        kstreams: async (input, output) => {
          ksPass.push(await runKStreams(classpath, 'passthrough', bootstrap, input, output, n))
        },
      },
    })
    const ks = pass.others.kstreams ?? []
    const sa = best(pass.streamApp)
    const results: Result[] = [
      {
        workload: `kstreams-passthrough (Kafka Streams ${KSTREAMS_VERSION}, 1 thread; best of ${rounds} alternating rounds)`,
        messages: n,
        rate: sa,
        baseline: 'Kafka Streams topic → topic (bytes), same input, same run',
        baseline_rate: best(ks),
        ratio: sa / best(ks),
        target: 1.0,
        rss_mb: Math.max(...pass.streamAppPeakRssMb),
        kstreams_cpu_us_per_msg: median(ksPass.map((r) => r.cpuUs)),
        kstreams_peak_rss_mb: Math.max(...ksPass.map((r) => r.peakRssMb)),
        hand_written_loop_rate: best(pass.ceiling),
        rounds: `Kafka Streams ${ks.join(' ')}; stream-app ${pass.streamApp.join(' ')}; hand-written ${pass.ceiling.join(' ')}; Kafka Streams CPU µs/msg ${ksPass.map((r) => r.cpuUs).join(' ')}`,
      },
    ]

    // word count: stream-app and Kafka Streams (RocksDB, default cache; in memory without a cache) alternating
    const admin = await openKafkaBroker({ url: `kafka://${bootstrap}` })
    const words = `bench-ks-words-${randomUUID().slice(0, 8)}`
    const created: string[] = [words]
    try {
      await admin.ensureTopics([{ name: words, partitions: 8 }])
      await preloadWords(admin, words, n)
      const saWc: { rate: number; peakRssMb: number }[] = []
      const ksWc: KStreamsRun[] = []
      const ksNoCache: KStreamsRun[] = []
      for (let i = 0; i < rounds; i++) {
        saWc.push(await runWordCountInChild(bootstrap, words, n, 'at_least_once'))
        ksWc.push(await runKStreams(classpath, 'wordcount', bootstrap, words, '-', n))
        created.push(...ksWc.at(-1)!.internalTopics)
        if (i === 0) {
          ksNoCache.push(await runKStreams(classpath, 'wordcount-nocache', bootstrap, words, '-', n))
          created.push(...ksNoCache[0]!.internalTopics)
        }
      }
      results.push({
        workload: `kstreams-word-count (10k keys, table with changelog, commit 1 s; best of ${rounds} alternating rounds)`,
        messages: n,
        rate: best(saWc.map((r) => r.rate)),
        baseline: 'Kafka Streams groupByKey().count() on RocksDB with its default record cache',
        baseline_rate: best(ksWc.map((r) => r.rate)),
        ratio: best(saWc.map((r) => r.rate)) / best(ksWc.map((r) => r.rate)),
        target: 1.0,
        rss_mb: Math.max(...saWc.map((r) => r.peakRssMb)),
        kstreams_cpu_us_per_msg: median(ksWc.map((r) => r.cpuUs)),
        kstreams_peak_rss_mb: Math.max(...ksWc.map((r) => r.peakRssMb)),
        kstreams_in_memory_no_cache_rate: ksNoCache[0]?.rate,
        rounds: `stream-app ${saWc.map((r) => Math.round(r.rate)).join(' ')}; Kafka Streams ${ksWc.map((r) => r.rate).join(' ')}; in memory, cache off ${ksNoCache.map((r) => r.rate).join(' ')}`,
      })
    } finally {
      await admin.close()
      await deleteTopics(bootstrap, created)
    }
    return results
  } finally {
    stop()
  }
}
