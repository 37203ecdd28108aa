/**
 * "rebalance": what a rolling deploy and a crash cost on Kafka (issue 26).
 * Three `stream-app run` workers of fixtures/rebalance-app.ts, each with its
 * own datadir, count per key under exactly_once over `events` (12 partitions)
 * after a preload of 200k distinct keys, with ~1,000 msg/s of steady load and
 * a read_committed reader timing every output. Measured: p50/p99 end-to-end
 * latency in steady state; per worker restarted in turn (SIGTERM, start again,
 * wait for its /health 200), the longest output gap of the partitions its
 * peers held and of the ones it held, changelog records replayed and
 * rebalances logged; then the same for a kill -9 and restart. Run under the
 * consumer protocol (KIP-848) with stable worker ids, with standbyReplicas 0
 * and 1, and for comparison under the classic protocol with a fresh datadir
 * (hence a fresh worker id) at every start: the old behaviour.
 */
import { randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { openKafkaBroker } from '@stream-app/kafka'
import {
  health,
  longestGap,
  outputReader,
  percentile,
  preload,
  sleep,
  steadyLoad,
  until,
  Worker,
  type WorkerEnv,
} from './rebalance-cluster.ts'

const PARTITIONS = 12
const NAMES = ['a', 'b', 'c'] as const

export interface Scenario {
  readonly protocol: 'consumer' | 'classic'
  readonly standby: number
  /** Restart with the same datadir (the same worker id), or with a fresh one. */
  readonly stableIds: boolean
}

export interface Disruption {
  readonly what: string
  readonly ms: number
  /** Longest output gap of the partitions the stopped worker held. */
  readonly ownGapMs: number
  /** Longest output gap of the partitions its peers held. */
  readonly peersGapMs: number
  readonly replayed: number
  readonly recoveringLines: number
  /** 'partitions assigned|revoked' lines of every worker, the restarted one included. */
  readonly rebalanceLines: number
  /** The same of the workers that kept running: 0 when the restart caused no rebalance. */
  readonly peerRebalanceLines: number
  /** Partitions whose owner changed (from /health before and after). */
  readonly moved: number
  /** The longest changelog replay ('recovery finished … ms=') of any worker in the window. */
  readonly recoveryMs: number
  /** Table partitions the workers that kept running took over from a local copy (a standby, or rows kept from before) / recovered cold. */
  readonly peersWarm: number
  readonly peersCold: number
  /** The longest this bench process's own event loop stalled in the window (its reader's arrival times are that late). */
  readonly benchStallMs: number
}

export interface ScenarioRun {
  readonly scenario: Scenario
  readonly keys: number
  readonly rate: number
  readonly steady: { p50: number; p99: number; max: number; samples: number; gapMs: number }
  readonly restarts: readonly Disruption[]
  readonly kill: Disruption
  readonly produced: number
  readonly outputs: number
  readonly preloadSeconds: number
}

/** Progress on stderr: a run takes minutes. */
const say = (m: string) => process.stderr.write(`rebalance: ${new Date().toISOString()} ${m}\n`)

/** How many table partitions 'partitions assigned' lines call warm (or cold) since the marks. */
const takeovers = (ws: readonly Worker[], kind: 'warm' | 'cold', marks: ReadonlyMap<Worker, number>) =>
  counted(ws, /partitions assigned/, marks).reduce(
    (n, l) => n + (new RegExp(`${kind}=(\\S+)`).exec(l)?.[1]?.split(',').length ?? 0),
    0,
  )

const counted = (ws: readonly Worker[], re: RegExp, marks: ReadonlyMap<Worker, number>) =>
  ws.flatMap((w) =>
    w.text
      .slice(marks.get(w) ?? 0)
      .split('\n')
      .filter((l) => re.test(l)),
  )

export async function rebalanceRun(
  bootstrap: string,
  scenario: Scenario,
  keys: number,
  rate: number,
  steadySeconds: number,
): Promise<ScenarioRun> {
  const id = `bench-reb-${randomUUID().slice(0, 8)}`
  const events = `${id}-events`
  const out = `${id}-out`
  const dir = mkdtempSync(join(tmpdir(), 'stream-app-bench-rebalance-'))
  const env: WorkerEnv = { bootstrap, id, partitions: PARTITIONS, ...scenario }
  const admin = await openKafkaBroker({ url: `kafka://${bootstrap}`, clientId: 'bench-rebalance' })
  const everyone: Worker[] = []
  const current = new Map<string, { w: Worker; url: string }>()
  let generation = 0
  const context = () =>
    [...current.values()].map(({ w }) => `--- worker ${w.name}:\n${w.text.slice(-2000)}`).join('\n')
  /** Starts a worker (a new datadir each time without stable ids: a new worker id). */
  const start = async (name: string): Promise<void> => {
    const datadir = join(dir, scenario.stableIds ? name : `${name}-${generation++}`)
    mkdirSync(datadir, { recursive: true })
    const w = new Worker(name, datadir, env)
    everyone.push(w)
    current.set(name, { w, url: await w.url() })
  }
  const ready = (name: string) =>
    until(
      `worker ${name} healthy`,
      async () => (await health(current.get(name)!.url)).code === 200,
      120_000,
      context,
    )
  const held = async (name: string) => (await health(current.get(name)!.url)).body.partitions[events] ?? []

  let reader: ReturnType<typeof outputReader> | undefined
  let load: ReturnType<typeof steadyLoad> | undefined
  try {
    await admin.ensureTopics([
      { name: events, partitions: PARTITIONS },
      { name: out, partitions: PARTITIONS },
    ])
    say(`${id}: ${JSON.stringify(scenario)}; preloading ${keys} keys`)
    const t0 = performance.now()
    await preload(admin, events, PARTITIONS, keys)
    reader = outputReader(admin, out, PARTITIONS)
    const r = reader
    for (const n of NAMES) await start(n)
    await until(
      `the preload counted (${keys} outputs) and the partitions split over three healthy workers`,
      async () => {
        if (r.total() < keys) return false
        for (const n of NAMES)
          if ((await held(n)).length !== PARTITIONS / 3 || !(await ready(n))) return false
        return true
      },
      600_000,
      () => `outputs ${r.total()}\n${context()}`,
    )
    const preloadSeconds = (performance.now() - t0) / 1000
    say(`preload counted in ${Math.round(preloadSeconds)} s; steady load`)

    load = steadyLoad(admin, events, PARTITIONS, keys, rate)
    await until(
      'output from every partition',
      () => r.flowingSince(Date.now() - 1000) === PARTITIONS,
      60_000,
      context,
    )
    const steadyFrom = Date.now()
    await sleep(steadySeconds * 1000)
    const steadyTo = Date.now()
    const lat = r.latencies
      .filter((x) => x.sentAt >= steadyFrom && x.sentAt < steadyTo)
      .map((x) => x.ms)
      .sort((a, b) => a - b)
    const steady = {
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      max: lat[lat.length - 1] ?? Number.NaN,
      samples: lat.length,
      gapMs: Math.max(...r.arrivals.map((a) => longestGap(a, steadyFrom, steadyTo))),
    }

    /** Stops (or kills) a worker, starts it again, waits until it is healthy and every partition flows again. */
    const disrupt = async (name: string, how: 'SIGTERM' | 'SIGKILL'): Promise<Disruption> => {
      const own = await held(name)
      const peers = (await Promise.all(NAMES.filter((n) => n !== name).map(held))).flat()
      const marks = new Map(everyone.map((w) => [w, w.text.length]))
      const peerWorkers = NAMES.filter((n) => n !== name).map((n) => current.get(n)!.w)
      say(`${how} ${name}`)
      const owners = async () => {
        const m = new Map<number, string>()
        for (const n of NAMES) for (const p of await held(n)) m.set(p, n)
        return m
      }
      const before = await owners()
      const stall = monitorEventLoopDelay({ resolution: 10 })
      stall.enable()
      const from = Date.now()
      const old = current.get(name)!.w
      if (how === 'SIGTERM') {
        const code = await old.stop()
        if (code !== 0) throw new Error(`worker ${name} exited ${code} on SIGTERM:\n${old.text.slice(-3000)}`)
      } else await old.kill()
      await start(name)
      await ready(name)
      const to = Date.now()
      await until(
        'output from every partition after the restart',
        () => r.flowingSince(to) === PARTITIONS,
        120_000,
        () => `partitions flowing since: ${r.flowingSince(to)}\n${context()}`,
      )
      stall.disable()
      const benchStallMs = Math.round(stall.max / 1e6)
      const gap = (ps: readonly number[]) =>
        Math.max(0, ...ps.map((p) => longestGap(r.arrivals[p]!, from, to)))
      const all = [...everyone]
      return {
        what: `${how} ${name}`,
        ms: to - from,
        ownGapMs: gap(own),
        peersGapMs: gap(peers),
        replayed: counted(all, /recovery finished/, marks).reduce(
          (n, l) => n + Number(/records=(\d+)/.exec(l)?.[1] ?? 0),
          0,
        ),
        recoveringLines: counted(all, /recovering table/, marks).length,
        rebalanceLines: counted(all, /partitions (assigned|revoked)/, marks).length,
        peerRebalanceLines: counted(peerWorkers, /partitions (assigned|revoked)/, marks).length,
        peersWarm: takeovers(peerWorkers, 'warm', marks),
        peersCold: takeovers(peerWorkers, 'cold', marks),
        moved: [...(await owners())].filter(([p, n]) => before.get(p) !== n).length,
        recoveryMs: Math.max(
          0,
          ...counted(all, /recovery finished/, marks).map((l) => Number(/ ms=(\d+)/.exec(l)?.[1] ?? 0)),
        ),
        benchStallMs,
      }
    }
    const restarts: Disruption[] = []
    for (const n of NAMES) restarts.push(await disrupt(n, 'SIGTERM'))
    const kill = await disrupt('b', 'SIGKILL')

    say('stopping the load; waiting for every output')
    const produced = keys + (await load.stop())
    load = undefined
    await until(
      `all ${produced} outputs`,
      () => r.total() >= produced,
      120_000,
      () => `outputs ${r.total()}`,
    )
    await sleep(500) // a duplicate would arrive right behind
    return { scenario, keys, rate, steady, restarts, kill, produced, outputs: r.total(), preloadSeconds }
  } finally {
    await load?.stop().catch(() => undefined)
    await Promise.all([...current.values()].map(({ w }) => w.stop()))
    for (const w of everyone) await w.kill()
    await reader?.close()
    await admin.close()
    if (process.env.BENCH_REBALANCE_LOGS)
      for (const [i, w] of everyone.entries())
        writeFileSync(join(process.env.BENCH_REBALANCE_LOGS, `${id}-${i}-${w.name}.log`), w.text)
    rmSync(dir, { recursive: true, force: true })
  }
}
