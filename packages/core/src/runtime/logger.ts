/**
 * Logs a person can read: one line per event, `time LEVEL [app] message k=v`,
 * or JSON lines with --json-logs. Writes to stderr so stdout stays for data.
 */

import type { LogLevel } from '../definition/platform.ts'
import type { Logger } from '../definition/types.ts'

export type { LogLevel }

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 }

export interface LoggerOptions {
  readonly level?: LogLevel
  readonly json?: boolean
  readonly name?: string
  readonly write?: (line: string) => void
  /**
   * The app's own logger (config `logger`: pino, winston, …): events go to it
   * as `(message, fields)`, the component's name in `fields.logger`, instead
   * of lines to stderr. The level still filters first.
   */
  readonly target?: Logger
}

const fmtValue = (v: unknown): string => {
  if (typeof v === 'string') return /[\s="]/.test(v) ? JSON.stringify(v) : v
  if (v instanceof Error) return JSON.stringify(v.message)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v)
  try {
    return JSON.stringify(v)
  } catch {
    return String(v)
  }
}

export function makeLogger(options: LoggerOptions = {}): Logger & { child(name: string): Logger } {
  const level =
    RANK[options.level ?? (process.env.STREAM_APP_LOG_LEVEL as LogLevel | undefined) ?? 'info'] ?? 20
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`))
  const json = options.json ?? process.env.STREAM_APP_JSON_LOGS === '1'
  const target = options.target
  const make = (name: string | undefined) => {
    const log = (
      lvl: Exclude<LogLevel, 'silent'>,
      message: string,
      fields?: Readonly<Record<string, unknown>>,
    ) => {
      if (RANK[lvl] < level) return
      if (target !== undefined) {
        target[lvl](message, name ? { logger: name, ...fields } : fields)
        return
      }
      const time = new Date().toISOString()
      if (json) {
        write(
          JSON.stringify({ time, level: lvl, ...(name ? { logger: name } : {}), msg: message, ...fields }),
        )
        return
      }
      let line = `${time} ${lvl.toUpperCase().padEnd(5)} ${name ? `[${name}] ` : ''}${message}`
      let stack: string | undefined
      if (fields)
        for (const [k, v] of Object.entries(fields)) {
          // A stack reads as the lines it is, indented under its event (JSON lines keep it a field).
          if (k === 'stack' && typeof v === 'string') stack = v
          else line += ` ${k}=${fmtValue(v)}`
        }
      if (stack !== undefined) line += `\n${stack.replace(/^/gm, '    ')}`
      write(line)
    }
    return {
      debug: (m: string, f?: Readonly<Record<string, unknown>>) => log('debug', m, f),
      info: (m: string, f?: Readonly<Record<string, unknown>>) => log('info', m, f),
      warn: (m: string, f?: Readonly<Record<string, unknown>>) => log('warn', m, f),
      error: (m: string, f?: Readonly<Record<string, unknown>>) => log('error', m, f),
    }
  }
  return { ...make(options.name), child: (n: string) => make(options.name ? `${options.name}:${n}` : n) }
}
