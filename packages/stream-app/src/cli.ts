/**
 * The CLI: `stream-app <command> <app-file> [args]`. Built-in commands run,
 * send, topics, agents, tables, routes and reset, plus every `.command()` of the
 * app with its typed options. Errors print one line and exit 1.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import {
  type AppDefinition,
  BUILTIN_COMMANDS,
  type LogLevel,
  oneLine,
  type Runnable,
  resolveConfig,
} from '@stream-app/core'
import yargs, { type Argv } from 'yargs'
import { describeApp, printTable } from './describe.ts'
import { loadApp } from './load.ts'
import { sendFromCli, startClient, startWorker } from './platform.ts'

export interface CliOptions {
  /** The app when run through app.main(); argv then has no app file. */
  readonly app?: Runnable
  readonly out?: (line: string) => void
  readonly err?: (line: string) => void
}

const VERSION = (() => {
  try {
    return (
      JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version
  } catch {
    return 'unknown'
  }
})()

class CliError extends Error {}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const

export async function runCli(argv: readonly string[], options: CliOptions = {}): Promise<number> {
  const out = options.out ?? ((l: string) => process.stdout.write(`${l}\n`))
  const err = options.err ?? ((l: string) => process.stderr.write(`${l}\n`))
  const args = [...argv]
  let app: Runnable | undefined = options.app
  const main = app !== undefined
  // Load the app first so its own commands can be registered.
  const first = args[0]
  const wantsApp = first !== undefined && !first.startsWith('-') && first !== 'help'
  if (!main && wantsApp) {
    const file = args[1]
    if (file === undefined || file.startsWith('-')) {
      err(`stream-app: missing app file: stream-app ${first} <app-file>`)
      return 1
    }
    try {
      app = await loadApp(file)
    } catch (e) {
      err(`stream-app: ${oneLine(e)}`)
      return 1
    }
  }
  if (main && wantsApp) args.splice(1, 0, '<main>')
  const def = app?.definition
  const known = [...BUILTIN_COMMANDS.filter((c) => c !== 'help'), ...Object.keys(def?.commands ?? {})]
  if (wantsApp && first !== undefined && !known.includes(first)) {
    err(`stream-app: unknown command '${first}' (commands: ${known.join(', ')})`)
    return 1
  }
  let code = 0
  let failure: string | undefined

  const cli = yargs(args)
    .scriptName('stream-app')
    .usage('stream-app <command> <app-file> [options]')
    .version(VERSION)
    .strict()
    .help()
    .showHelpOnFail(false)
    .exitProcess(false)
    .fail((msg, e) => {
      failure = msg ?? (e ? oneLine(e) : 'error')
    })
    .option('log-level', { choices: LEVELS, describe: 'log level' })
    .option('json-logs', { type: 'boolean', describe: 'log JSON lines' })
    .option('json', { type: 'boolean', describe: 'print JSON (listing commands)' })
    .demandCommand(
      1,
      "a command is required: run, send, topics, agents, tables, routes, reset or one of the app's",
    )

  const need = (): { app: Runnable; def: AppDefinition } => {
    if (!app || !def) throw new CliError('missing app file')
    return { app, def }
  }
  const logOptions = (a: Record<string, unknown>) => {
    if (a['json-logs']) process.env.STREAM_APP_JSON_LOGS = '1'
    return (a['log-level'] as LogLevel | undefined) ?? undefined
  }

  cli.command(
    'run <app>',
    'start a worker',
    (y: Argv) =>
      y
        .positional('app', { type: 'string', describe: 'app file (.ts or .js)' })
        .option('web-port', { type: 'number', describe: 'web server port (0 picks a free one)' })
        .option('web-host', { type: 'string', describe: 'web server address' })
        .option('without-web', { type: 'boolean', describe: 'do not start the web server' })
        .option('broker', { type: 'string', describe: 'broker URL' })
        .option('datadir', { type: 'string', describe: 'local state directory' }),
    async (a) => {
      const { def } = need()
      const level = logOptions(a)
      const web = {
        ...(a['web-port'] !== undefined ? { port: a['web-port'] as number } : {}),
        ...(a['web-host'] !== undefined ? { host: a['web-host'] as string } : {}),
        ...(a['without-web'] ? { enabled: false } : {}),
      }
      // Signals are handled from the start: one that arrives while the worker is still
      // starting stops it as soon as it is up, instead of killing the process mid-start.
      let signalled: string | undefined
      let onSignal = (sig: string) => {
        if (signalled) process.exit(130)
        signalled = sig
      }
      process.on('SIGINT', () => onSignal('SIGINT'))
      process.on('SIGTERM', () => onSignal('SIGTERM'))
      const { runtime, worker } = await startWorker(def, {
        ...(level ? { logLevel: level } : {}),
        ...(a.broker ? { broker: a.broker as string } : {}),
        ...(a.datadir ? { datadir: a.datadir as string } : {}),
        web,
      })
      await new Promise<void>((resolveStop) => {
        let stopping = false
        onSignal = (sig: string) => {
          if (stopping) {
            worker.log.warn(`${sig} again: exiting now`)
            process.exit(130)
          }
          stopping = true
          worker.log.info(`${sig} received: stopping`)
          worker.stop().then(resolveStop, (e) => {
            err(`stream-app: stop failed: ${oneLine(e)}`)
            code = 1
            resolveStop()
          })
        }
        if (signalled) onSignal(signalled)
        // The worker stops itself when it cannot go on (its table state could not be loaded).
        void runtime.done.then(() => {
          if (stopping || !runtime.fatal) return
          err(`stream-app: ${oneLine(runtime.fatal)}`)
          code = 1
          resolveStop()
        })
      })
    },
  )

  cli.command(
    'send <app> <topic> [value]',
    'send a message (value from stdin, one a line, when omitted)',
    (y: Argv) =>
      y
        .positional('app', { type: 'string' })
        .positional('topic', { type: 'string', describe: 'topic or agent name' })
        .positional('value', { type: 'string', describe: 'the value (JSON when it parses)' })
        .option('key', { type: 'string', describe: 'message key' })
        .option('partition', { type: 'number', describe: 'partition' })
        .option('broker', { type: 'string', describe: 'broker URL' }),
    async (a) => {
      const { def } = need()
      const values: string[] = []
      if (a.value !== undefined) values.push(String(a.value))
      else {
        const rl = createInterface({ input: process.stdin })
        for await (const line of rl) if (line.trim() !== '') values.push(line)
      }
      const sent = await sendFromCli(def, {
        topic: String(a.topic),
        values,
        ...(a.key !== undefined ? { key: String(a.key) } : {}),
        ...(a.partition !== undefined ? { partition: a.partition as number } : {}),
        ...(a.broker ? { broker: a.broker as string } : {}),
      })
      for (const s of sent) out(JSON.stringify(s))
    },
  )

  for (const kind of ['topics', 'agents', 'tables', 'routes'] as const) {
    cli.command(
      `${kind} <app>`,
      `list the app's ${kind}`,
      (y: Argv) => y.positional('app', { type: 'string' }),
      (a) => {
        const { def } = need()
        const rows = describeApp(def)[kind]
        if (a.json) out(JSON.stringify(rows, null, 2))
        else printTable(rows as Record<string, unknown>[], out)
      },
    )
  }

  cli.command(
    'reset <app>',
    'delete local state (the datadir)',
    (y: Argv) => y.positional('app', { type: 'string' }).option('datadir', { type: 'string' }),
    (a) => {
      const { def } = need()
      const config = resolveConfig(def.config, a.datadir ? { datadir: a.datadir as string } : {})
      const dir = resolve(config.datadir)
      if (!existsSync(dir)) {
        out(`nothing to reset: ${config.datadir} does not exist`)
        return
      }
      rmSync(dir, { recursive: true, force: true })
      out(`removed ${config.datadir}`)
    },
  )

  for (const c of Object.values(def?.commands ?? {})) {
    cli.command(
      `${c.name} <app>`,
      c.describe ?? `the app's '${c.name}' command`,
      (y: Argv) => {
        let b = y.positional('app', { type: 'string' })
        for (const [k, o] of Object.entries(c.options)) {
          b = b.option(k, {
            type: o.type,
            ...(o.default !== undefined ? { default: o.default } : {}),
            ...(o.describe !== undefined ? { describe: o.describe } : {}),
            ...(o.demandOption ? { demandOption: true } : {}),
            ...(o.alias !== undefined ? { alias: o.alias as string | string[] } : {}),
            ...(o.choices !== undefined ? { choices: o.choices as (string | number)[] } : {}),
          })
        }
        return b
      },
      async (a) => {
        const { def } = need()
        for (const [k, o] of Object.entries(c.options)) {
          if (o.type === 'number' && a[k] !== undefined && Number.isNaN(a[k]))
            throw new CliError(`option --${k} must be a number`)
        }
        const level = logOptions(a)
        const client = await startClient(def, level ? { logLevel: level } : {})
        try {
          const { app: _app, $0: _s, ...rest } = a
          await c.fn(rest, client.ctx)
        } finally {
          await client.stop()
        }
      },
    )
  }

  try {
    await cli.parseAsync()
  } catch (e) {
    failure ??= oneLine(e)
  }
  if (failure !== undefined) {
    err(`stream-app: ${failure}`)
    return 1
  }
  return code
}

export { BUILTIN_COMMANDS }
