/**
 * The CLI's arguments, checked before anything acts: every built-in command
 * and every command of the app is declared to yargs with its options and
 * positionals, without handlers; a parse either fails (one line), asks for
 * help or the version (yargs' text), or names a command and its arguments.
 */
import type { AppDefinition, CommandArgDef, CommandDef } from '@stream-app/core'
import yargs, { type Argv } from 'yargs'

export type Parsed =
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'output'; readonly text: string }
  | { readonly kind: 'command'; readonly command: string; readonly args: Readonly<Record<string, unknown>> }

const LEVELS = ['debug', 'info', 'warn', 'error'] as const

/** The built-in commands with an app file, one line each (for `help`). */
export const BUILTINS: readonly (readonly [usage: string, what: string])[] = [
  [
    'run <app>',
    'start a worker (--web-port, --web-host, --without-web, --broker, --datadir, --worker-id, --[no-]stop-with-parent)',
  ],
  [
    'send <app> <topic> [value]',
    'send a message; one a line from stdin without a value (--key, --partition, --string, --raw, --broker)',
  ],
  ['topics|agents|tables|routes <app>', 'list what the app defines (--json)'],
  ['reset <app>', "delete the app's local state (--datadir); --topics: its sqlite:// topics too"],
  [
    'wait-ready <app>',
    "wait until a worker is ready and its group stable: GET /health is 200 (--url, default from the app's web config; --timeout 120s)",
  ],
]

const positional = (name: string, a: CommandArgDef) =>
  a.optional === true || a.default !== undefined ? `[${name}]` : `<${name}>`

/** `greet <app> <name> [times]`: a command's usage with its positionals. */
export const usageOf = (c: CommandDef): string =>
  [c.name, '<app>', ...Object.entries(c.args).map(([k, a]) => positional(k, a))].join(' ')

function declare(y: Argv, def: AppDefinition | undefined): Argv {
  y.command('run <app>', 'start a worker', (b: Argv) =>
    b
      .positional('app', { type: 'string', describe: 'app file (.ts or .js)' })
      .option('web-port', { type: 'number', describe: 'web server port (0 picks a free one)' })
      .option('web-host', { type: 'string', describe: 'web server address' })
      .option('without-web', { type: 'boolean', describe: 'do not start the web server' })
      .option('broker', { type: 'string', describe: 'broker URL' })
      .option('datadir', { type: 'string', describe: 'local state directory' })
      .option('worker-id', {
        type: 'string',
        describe: "this worker's stable identity (Kafka static membership; default kept in the datadir)",
      })
      .option('stop-with-parent', {
        type: 'boolean',
        describe:
          'stop cleanly when the process that started the worker exits (default: on when started by npx/npm/pnpm/yarn)',
      }),
  )
  y.command(
    'send <app> <topic> [value]',
    'send a message (value from stdin, one a line, when omitted)',
    (b: Argv) =>
      b
        .positional('app', { type: 'string' })
        .positional('topic', { type: 'string', describe: 'topic or agent name' })
        .positional('value', { type: 'string', describe: 'the value (JSON when it parses)' })
        .option('key', { type: 'string', describe: 'message key' })
        .option('partition', { type: 'number', describe: 'partition' })
        .option('string', { type: 'boolean', describe: 'send the text as a string, never parsed as JSON' })
        .option('raw', { type: 'boolean', describe: "send the text's bytes (topics of codec 'raw')" })
        .conflicts('string', 'raw')
        .option('broker', { type: 'string', describe: 'broker URL' }),
  )
  for (const kind of ['topics', 'agents', 'tables', 'routes'] as const)
    y.command(`${kind} <app>`, `list the app's ${kind}`, (b: Argv) =>
      b
        .positional('app', { type: 'string' })
        .option('json', { type: 'boolean', describe: 'print JSON' })
        .option('broker', { type: 'string', describe: 'broker URL (topics: replication as it reports it)' }),
    )
  y.command('reset <app>', "delete the app's local state (the datadir)", (b: Argv) =>
    b
      .positional('app', { type: 'string' })
      .option('datadir', { type: 'string', describe: 'local state directory' })
      .option('topics', {
        type: 'boolean',
        describe: "also delete the app's topics and consumer group on the embedded sqlite:// broker",
      })
      .option('broker', { type: 'string', describe: 'broker URL' }),
  )
  y.command(
    'wait-ready <app>',
    'wait until a worker runs and its group is stable (GET /health is 200); exit 1 on timeout',
    (b: Argv) =>
      b
        .positional('app', { type: 'string' })
        .option('url', {
          type: 'string',
          describe: "the worker's web base URL (default: from the app's web config)",
        })
        .option('timeout', {
          type: 'string',
          default: '120s',
          describe: 'give up after this long (e.g. 90s, 5m)',
        })
        .option('web-port', { type: 'number', describe: 'web port, when not given by --url' })
        .option('web-host', { type: 'string', describe: 'web address, when not given by --url' }),
  )
  for (const c of Object.values(def?.commands ?? {}))
    y.command(usageOf(c), c.describe ?? `the app's '${c.name}' command`, (b: Argv) => {
      b.positional('app', { type: 'string' })
      for (const [k, a] of Object.entries(c.args))
        b.positional(k, {
          type: a.type,
          ...(a.describe !== undefined ? { describe: a.describe } : {}),
          ...(a.default !== undefined ? { default: a.default } : {}),
          ...(a.choices !== undefined ? { choices: a.choices as (string | number)[] } : {}),
        })
      for (const [k, o] of Object.entries(c.options))
        b.option(k, {
          type: o.type,
          ...(o.default !== undefined ? { default: o.default } : {}),
          ...(o.describe !== undefined ? { describe: o.describe } : {}),
          ...(o.demandOption ? { demandOption: true } : {}),
          ...(o.alias !== undefined ? { alias: o.alias as string | string[] } : {}),
          ...(o.choices !== undefined ? { choices: o.choices as (string | number)[] } : {}),
        })
      return b
    })
  return y
}

/** Number options and arguments that yargs read as NaN. */
function badNumber(
  command: string,
  args: Record<string, unknown>,
  def: AppDefinition | undefined,
): string | undefined {
  const numbers: [string, 'option' | 'argument'][] = [
    ['web-port', 'option'],
    ['partition', 'option'],
  ]
  const c = def?.commands[command]
  if (c) {
    for (const [k, o] of Object.entries(c.options)) if (o.type === 'number') numbers.push([k, 'option'])
    for (const [k, a] of Object.entries(c.args)) if (a.type === 'number') numbers.push([k, 'argument'])
  }
  for (const [k, what] of numbers)
    if (typeof args[k] === 'number' && Number.isNaN(args[k]))
      return what === 'option' ? `option --${k} must be a number` : `argument '${k}' must be a number`
  return undefined
}

/** Parses and checks `args`; nothing is run. */
export async function parse(
  args: readonly string[],
  def: AppDefinition | undefined,
  version: string,
): Promise<Parsed> {
  let failure: string | undefined
  const y = yargs([...args])
    .scriptName('stream-app')
    .usage('stream-app <command> <app-file> [options]')
    .version(version)
    .strict()
    .help()
    .showHelpOnFail(false)
    .exitProcess(false)
    .fail((msg, e) => {
      failure = msg ?? (e ? e.message : 'error')
    })
    .option('log-level', { choices: LEVELS, describe: 'log level' })
    .option('json-logs', { type: 'boolean', describe: 'log JSON lines' })
    .demandCommand(
      1,
      "a command is required: run, send, topics, agents, tables, routes, reset, wait-ready or one of the app's",
    )
  declare(y, def)
  const { argv, output } = await new Promise<{ argv: Record<string, unknown>; output: string }>((resolve) => {
    void y.parse([...args], {}, (_e: unknown, argv: Record<string, unknown>, output: string) =>
      resolve({ argv, output }),
    )
  })
  if (failure !== undefined) return { kind: 'error', message: failure.split('\n')[0]! }
  if (output) return { kind: 'output', text: output }
  const command = String((argv._ as unknown[])[0])
  const bad = badNumber(command, argv, def)
  if (bad) return { kind: 'error', message: bad }
  return { kind: 'command', command, args: argv }
}
