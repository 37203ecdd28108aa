/**
 * The CLI: `stream-app <command> <app-file> [args]`. The app file is loaded
 * first (its own commands are part of the grammar), then every argument is
 * checked, and only then does anything act: a bad option or argument is one
 * line and exit code 1 with nothing sent, started or printed.
 */
import { readFileSync } from 'node:fs'
import type { AppDefinition, Runnable } from '@stream-app/core'
import { BUILTIN_COMMANDS, messageOf } from '@stream-app/core/runtime'
import * as Cause from 'effect/Cause'
import * as Effect from 'effect/Effect'
import { appCommand, type Io, list, reset, run } from './commands.ts'
import { loadApp } from './load.ts'
import { noShutdown, Shutdown } from './main.ts'
import { BUILTINS, parse, usageOf } from './parse.ts'
import { send } from './send.ts'
import { tail } from './tail.ts'
import { waitReady } from './wait-ready.ts'

export interface CliOptions {
  /** The app when run through app.main(); argv then has no app file. */
  readonly app?: Runnable
  readonly out?: (line: string) => void
  readonly err?: (line: string) => void
}

const VERSION = (() => {
  try {
    return (
      JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    ).version
  } catch {
    return 'unknown'
  }
})()

const APP_FILE = /\.(m?[jt]s|cjs)$/i

/** The built-in commands with an app file (help is handled before). */
const BUILTIN: readonly string[] = BUILTIN_COMMANDS.filter((c) => c !== 'help')

/** The help text: built-in commands and, given an app, its own. */
export function helpText(def: AppDefinition | undefined, file: string | undefined): string {
  const rows: [string, string][] = [
    ...BUILTINS.map(([u, w]) => [u, w] as [string, string]),
    [
      'init <dir> [--template t]',
      'write a new project (word-count, minimal or kafka): a typed app, its test, tsconfig.json, package.json',
    ],
    [
      'help [command] [app]',
      "this text, or one command's usage; given an app file, the app's own commands too",
    ],
  ]
  const own: [string, string][] = Object.values(def?.commands ?? {}).map((c) => {
    const options = Object.entries(c.options).map(
      ([k, o]) =>
        `--${k} ${o.type}${o.default !== undefined ? ` (default ${JSON.stringify(o.default)})` : ''}`,
    )
    return [
      usageOf(c),
      [c.describe ?? '', options.length ? `(${options.join(', ')})` : ''].filter(Boolean).join(' '),
    ]
  })
  const width = Math.max(...[...rows, ...own].map(([u]) => u.length)) + 2
  const fmt = ([u, w]: [string, string]) => `  ${u.padEnd(width)}${w}`.trimEnd()
  const lines = ['stream-app <command> <app-file> [options]', '', 'Commands:', ...rows.map(fmt)]
  if (def) {
    lines.push('', `Commands of app '${def.config.id}'${file ? ` (${file})` : ''}:`)
    lines.push(...(own.length ? own.map(fmt) : ['  (none)']))
  }
  lines.push('', 'Options: --log-level debug|info|warn|error, --json-logs, --help, --version')
  return lines.join('\n')
}

/** An app file loaded, or why not (one line). */
const load = (file: string) =>
  Effect.promise(() =>
    loadApp(file).then(
      (app): { app: Runnable } => ({ app }),
      (e: unknown): { error: string } => ({ error: messageOf(e) }),
    ),
  )

/** The CLI as an Effect: its result is the exit code. */
export function cliProgram(
  argv: readonly string[],
  options: CliOptions = {},
): Effect.Effect<number, never, Shutdown> {
  const io: Io = {
    out: options.out ?? ((l: string) => process.stdout.write(`${l}\n`)),
    err: options.err ?? ((l: string) => process.stderr.write(`${l}\n`)),
  }
  const fail = (message: string) =>
    Effect.sync(() => {
      io.err(`stream-app: ${message}`)
      return 1
    })
  /** yargs' usage of one command: a built-in one needs no app file. */
  const commandHelp = (command: string, def: AppDefinition | undefined) =>
    Effect.gen(function* () {
      const parsed = yield* Effect.promise(() =>
        parse([command, ...(def ? ['<app>'] : []), '--help'], def, VERSION),
      )
      if (parsed.kind === 'error') return yield* fail(parsed.message)
      io.out(parsed.kind === 'output' ? parsed.text : helpText(def, undefined))
      return 0
    })
  return Effect.gen(function* () {
    const args = [...argv]
    let app: Runnable | undefined = options.app
    const main = app !== undefined
    const first = args[0]
    // `help [command] [app]`, `<built-in> --help` (no app file needed) and `<app-file> --help`.
    if (first === 'help') {
      const rest = args.slice(1)
      const file = main ? undefined : rest.find((x) => APP_FILE.test(x))
      const command = rest.find((x) => !APP_FILE.test(x) && !x.startsWith('-'))
      if (file !== undefined) {
        const loaded = yield* load(file)
        if ('error' in loaded) return yield* fail(loaded.error)
        app = loaded.app
      }
      if (command === undefined) {
        io.out(helpText(app?.definition, file))
        return 0
      }
      if (command === 'init') {
        io.out(
          helpText(undefined, undefined)
            .split('\n')
            .find((l) => l.trim().startsWith('init '))!
            .trim(),
        )
        return 0
      }
      const own = Object.hasOwn(app?.definition.commands ?? {}, command)
      if (!BUILTIN.includes(command) && !own)
        return yield* fail(
          `unknown command '${command}'${file || main ? '' : " (an app's own command: stream-app help <command> <app-file>)"}`,
        )
      return yield* commandHelp(command, own ? app?.definition : undefined)
    }
    if (first !== undefined && BUILTIN.includes(first) && (args.includes('--help') || args.includes('-h')))
      return yield* commandHelp(first, undefined)
    const helpFor = first !== undefined && APP_FILE.test(first) ? first : undefined
    if (helpFor !== undefined && args.includes('--help')) {
      if (!main) {
        const loaded = yield* load(helpFor)
        if ('error' in loaded) return yield* fail(loaded.error)
        app = loaded.app
      }
      io.out(helpText(app?.definition, main ? undefined : helpFor))
      return 0
    }
    // Load the app first so its own commands are part of what is checked.
    const wantsApp = first !== undefined && !first.startsWith('-')
    if (!main && wantsApp) {
      const file = args[1]
      if (file === undefined || file.startsWith('-'))
        return yield* fail(`missing app file: stream-app ${first} <app-file>`)
      const loaded = yield* load(file)
      if ('error' in loaded) return yield* fail(loaded.error)
      app = loaded.app
    }
    if (main && wantsApp) args.splice(1, 0, '<main>')
    const def = app?.definition
    const known = [...BUILTIN_COMMANDS.filter((c) => c !== 'help'), ...Object.keys(def?.commands ?? {})]
    if (wantsApp && first !== undefined && !known.includes(first))
      return yield* fail(`unknown command '${first}' (commands: ${known.join(', ')}, init, help)`)
    const parsed = yield* Effect.promise(() => parse(args, def, VERSION))
    if (parsed.kind === 'error') return yield* fail(parsed.message)
    if (parsed.kind === 'output') {
      io.out(parsed.text)
      return 0
    }
    if (!def) return yield* fail('missing app file')
    const a = parsed.args
    const act: Effect.Effect<number, unknown, Shutdown> =
      parsed.command === 'run'
        ? run(def, a, io)
        : parsed.command === 'send'
          ? send(def, a, io)
          : parsed.command === 'tail'
            ? tail(def, a, io)
            : parsed.command === 'topics' ||
                parsed.command === 'agents' ||
                parsed.command === 'tables' ||
                parsed.command === 'routes'
              ? list(def, parsed.command, a, io)
              : parsed.command === 'reset'
                ? reset(def, a, io)
                : parsed.command === 'wait-ready'
                  ? waitReady(def, a, io)
                  : appCommand(def, parsed.command, a)
    // A failure or a defect (a throw in a promise the worker awaited) is one line; an interruption stays one.
    return yield* act.pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause as Cause.Cause<never>)
          : fail(messageOf(Cause.squash(cause))),
      ),
    )
  })
}

/** The CLI inside another process (no signal handling of its own): resolves with the exit code. */
export function runCli(argv: readonly string[], options: CliOptions = {}): Promise<number> {
  return Effect.runPromise(cliProgram(argv, options).pipe(Effect.provideService(Shutdown, noShutdown())))
}

export { BUILTIN_COMMANDS }
