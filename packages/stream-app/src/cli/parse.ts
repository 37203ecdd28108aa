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
    'send a message; one a line from stdin without a value (--key, --key-field, --keyed, --partition, --timestamp, --header k=v, --string, --raw, --broker)',
  ],
  [
    'tail <app> <topic>',
    "print a topic's records as JSON lines, never moving the app's group (--from earliest|latest|<offset>|<ISO time>, --partition, --limit, --follow, --group, --broker)",
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
        .option('key', { type: 'string', requiresArg: true, describe: 'message key (every message)' })
        .option('key-field', {
          type: 'string',
          requiresArg: true,
          describe: "each line's key: this field of its JSON value",
        })
        .option('keyed', { type: 'boolean', describe: 'lines are key<TAB>value' })
        .option('partition', { type: 'number', requiresArg: true, describe: 'partition' })
        .option('timestamp', {
          type: 'string',
          requiresArg: true,
          describe: 'record timestamp: epoch ms or an ISO time (default now)',
        })
        .option('header', {
          type: 'string',
          requiresArg: true,
          describe: 'a record header name=value (repeatable)',
        })
        .option('string', { type: 'boolean', describe: 'send the text as a string, never parsed as JSON' })
        .option('raw', { type: 'boolean', describe: "send the text's bytes (topics of codec 'raw')" })
        .conflicts('string', 'raw')
        .option('broker', { type: 'string', requiresArg: true, describe: 'broker URL' }),
  )
  y.command('tail <app> <topic>', "print a topic's records as JSON lines", (b: Argv) =>
    b
      .positional('app', { type: 'string' })
      .positional('topic', {
        type: 'string',
        describe: 'topic (its dead-letter topic too: <topic>.dead-letter)',
      })
      .option('from', {
        type: 'string',
        requiresArg: true,
        describe: 'earliest (default), latest, an offset, or an ISO time',
      })
      .option('partition', { type: 'number', requiresArg: true, describe: 'only this partition' })
      .option('limit', { type: 'number', requiresArg: true, describe: 'stop after this many records' })
      .option('follow', { type: 'boolean', describe: 'keep waiting for new records (until Ctrl-C)' })
      .option('group', {
        type: 'string',
        requiresArg: true,
        describe: "read as this consumer group and commit what was printed (never the app's own)",
      })
      .option('broker', { type: 'string', requiresArg: true, describe: 'broker URL' }),
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
    ['limit', 'option'],
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

/**
 * yargs' failures, tidied: an option missing its value is named as an option,
 * and yargs names an unknown `--web-prot` twice, as given and camel-cased
 * (`web-prot, webProt`): each is named once, as the user typed it.
 */
export function tidyFailure(message: string): string {
  const missing = /^Not enough arguments following: (.+)$/.exec(message)
  if (missing) return `option --${missing[1]} needs a value`
  const m = /^(Unknown arguments?): (.*)$/.exec(message)
  if (!m) return message
  const names = m[2]!.split(', ')
  const camel = (n: string) => n.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
  const kept = names.filter((n) => (n === camel(n) ? !names.some((o) => o !== n && camel(o) === n) : true))
  return `${kept.length > 1 ? 'Unknown arguments' : 'Unknown argument'}: ${kept.join(', ')}`
}

/** Built-in options that take a text: `--key=` gives an empty one, which sends nothing useful. */
const TEXT_OPTIONS = ['key', 'key-field', 'timestamp', 'header', 'from', 'group', 'broker']

/** An app command's own options may take an empty text; built-in ones may not. */
function emptyValue(
  command: string,
  args: Record<string, unknown>,
  def: AppDefinition | undefined,
): string | undefined {
  if (def?.commands[command]) return undefined
  for (const k of TEXT_OPTIONS) {
    const v = args[k]
    if (v === '' || (Array.isArray(v) && v.includes(''))) return `option --${k} needs a value`
  }
  return undefined
}

/** Built-in commands take no positionals beyond their own; app commands get the rest as args._. */
function extraArgument(
  command: string,
  args: Record<string, unknown>,
  def: AppDefinition | undefined,
): string | undefined {
  if (def?.commands[command]) return undefined
  const extra = (args._ as unknown[]).slice(1)
  if (!extra.length) return undefined
  const usage = BUILTINS.find(([u]) => u.split(' ')[0]!.split('|').includes(command))?.[0]
  return `unexpected argument '${String(extra[0])}'${usage ? ` (usage: stream-app ${usage.replace(/^[a-z|-]+/, command)})` : ''}`
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
    // Unknown options fail; extra positionals reach an app command as args._ (built-ins check theirs).
    .strictOptions()
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
      "a command is required: run, send, tail, topics, agents, tables, routes, reset, wait-ready or one of the app's",
    )
  declare(y, def)
  const { argv, output } = await new Promise<{ argv: Record<string, unknown>; output: string }>((resolve) => {
    void y.parse([...args], {}, (_e: unknown, argv: Record<string, unknown>, output: string) =>
      resolve({ argv, output }),
    )
  })
  if (failure !== undefined) return { kind: 'error', message: tidyFailure(failure.split('\n')[0]!) }
  if (output) return { kind: 'output', text: output }
  const command = String((argv._ as unknown[])[0])
  const bad =
    badNumber(command, argv, def) ?? emptyValue(command, argv, def) ?? extraArgument(command, argv, def)
  if (bad) return { kind: 'error', message: bad }
  return { kind: 'command', command, args: argv }
}
