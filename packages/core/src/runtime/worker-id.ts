/**
 * A worker's stable identity: given (`workerId`, `--worker-id`,
 * STREAM_APP_WORKER_ID) or kept in its datadir, so the same worker restarted
 * is the same member of its group (on Kafka, static membership: back within
 * the session timeout, it gets its partitions again without a rebalance).
 * Two processes must never share one: a worker whose datadir another live
 * process holds runs without a stable identity, and says so.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError } from '../definition/errors.ts'
import type { Logger, ResolvedConfig } from '../definition/types.ts'

const ID = /^[A-Za-z0-9._:-]{1,200}$/
const ID_FILE = 'worker-id'
const PID_FILE = 'worker.pid'

/** Checks a given worker id (a clear error for one a group cannot take). */
export function checkWorkerId(id: string): string {
  if (!ID.test(id))
    throw new ConfigError(`workerId must be 1-200 characters of [A-Za-z0-9._:-], got ${JSON.stringify(id)}`)
  return id
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * This worker's identity, or undefined for none (a fresh member each start).
 * Without one given, only workers of a broker that recognises a returning
 * member (`kept`: Kafka) keep one in the datadir; nothing is written otherwise.
 */
export function workerIdentity(config: ResolvedConfig, kept: boolean, log: Logger): string | undefined {
  if (config.workerId !== undefined) return checkWorkerId(config.workerId)
  if (!kept) return undefined
  const dir = config.datadir
  try {
    mkdirSync(dir, { recursive: true })
    const pidFile = join(dir, PID_FILE)
    let holder: number | undefined
    try {
      holder = Number(readFileSync(pidFile, 'utf8').trim()) || undefined
    } catch {}
    if (holder !== undefined && holder !== process.pid && alive(holder)) {
      log.info(
        `datadir ${dir} is in use by process ${holder}: this worker has no stable identity (give each worker its own datadir or --worker-id)`,
      )
      return undefined
    }
    writeFileSync(pidFile, `${process.pid}\n`)
    const idFile = join(dir, ID_FILE)
    try {
      return checkWorkerId(readFileSync(idFile, 'utf8').trim())
    } catch {
      const id = `${config.id}-${randomBytes(6).toString('hex')}`
      writeFileSync(idFile, `${id}\n`)
      return id
    }
  } catch (e) {
    log.warn(`no stable worker identity: ${e instanceof Error ? e.message : String(e)}`)
    return undefined
  }
}
