/**
 * `send`'s new options refuse bad input before anything is sent (one line,
 * exit 1, no record on the broker); help for a built-in command needs no app
 * file; an unknown option is named once; app commands get extra positionals
 * as args._ while built-in commands refuse them. The real CLI in child
 * processes (run side by side), one sqlite:// broker directory.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openSqliteBroker } from '@stream-app/sqlite'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from './cli-run.ts'

const TAIL_APP = fileURLToPath(new URL('./fixtures/tail-app.ts', import.meta.url))
const ARGS_APP = fileURLToPath(new URL('./fixtures/sqlite-app.ts', import.meta.url))

const dir = mkdtempSync(join(tmpdir(), 'stream-app-send-args-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The CLI in `dir`, to completion. */
const cli = (args: readonly string[], input?: string) =>
  runCli(dir, args, { timeoutMs: 90_000, ...(input === undefined ? {} : { input }) })

/** How many records the topic holds on the broker in `dir` (0 when it does not exist). */
async function count(topic: string): Promise<number> {
  const broker = openSqliteBroker({
    path: join(dir, '.stream-app', 'broker.sqlite'),
    maintenanceIntervalMs: 0,
  })
  try {
    const n = (await broker.partitions(topic)) ?? 0
    const tps = Array.from({ length: n }, (_, partition) => ({ topic, partition }))
    return (await broker.endOffsets(tps)).reduce((s, e) => s + e.offset, 0)
  } finally {
    await broker.close()
  }
}

describe('send checks every argument first; help and positionals', { timeout: 180_000 }, () => {
  it('bad send arguments: one line, exit 1, nothing sent', async () => {
    const N = 'tail-app-numbers'
    const O = 'tail-app-orders'
    const cases: [args: string[], input: string | undefined, error: string | RegExp][] = [
      [['send', TAIL_APP, N, '7', '--key'], undefined, 'option --key needs a value'],
      [['send', TAIL_APP, N, '7', '--key='], undefined, 'option --key needs a value'],
      [
        ['send', TAIL_APP, N, '--keyed'],
        'a\t1\nno-tab\n',
        'line 2: no TAB between key and value (--keyed takes key<TAB>value lines); nothing was sent',
      ],
      [
        ['send', TAIL_APP, O, '--key-field', 'id'],
        '{"id":"a","n":1}\n{"n":2}\n',
        "line 2: no field 'id' for the key (--key-field takes JSON objects); nothing was sent",
      ],
      [
        ['send', TAIL_APP, N, '7', '--timestamp', 'yesterday'],
        undefined,
        /^bad --timestamp 'yesterday': expected/,
      ],
      [
        ['send', TAIL_APP, N, '7', '--header', 'novalue'],
        undefined,
        "bad --header 'novalue': expected name=value",
      ],
      [
        ['send', TAIL_APP, N, '--keyed', '--key', 'k'],
        'a\t1\n',
        '--key gives every message one key: it cannot go with --key-field or --keyed',
      ],
      [['send', TAIL_APP, N, '--keyed', '--key-field', 'id'], 'a\t1\n', /^--key-field and --keyed both/],
      [['send', TAIL_APP, N, '7', '--partition'], undefined, 'option --partition needs a value'],
      [['send', TAIL_APP, N, 'x', '--timestmp', '1'], undefined, 'Unknown argument: timestmp'],
    ]
    const runs = await Promise.all(cases.map(([args, input]) => cli(args, input)))
    runs.forEach((r, i) => {
      const [args, , error] = cases[i]!
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.out, args.join(' ')).toBe('')
      const line = r.err.trim()
      expect(line.split('\n'), args.join(' ')).toHaveLength(1)
      if (typeof error === 'string') expect(line).toBe(`stream-app: ${error}`)
      else expect(line.replace(/^stream-app: /, '')).toMatch(error)
    })
    expect(await count(N)).toBe(0)
    expect(await count(O)).toBe(0)
  })

  it('help without an app file, unknown options named once, positionals', async () => {
    const [sendHelp, helpTail, helpUnknown, typo, greet, extra] = await Promise.all([
      cli(['send', '--help']),
      cli(['help', 'tail']),
      cli(['help', 'frobnicate']),
      cli(['run', ARGS_APP, '--web-prot', '3']),
      cli(['greet', ARGS_APP, 'bob', '1', 'extra', 'more']),
      cli(['topics', ARGS_APP, 'extra']),
    ])
    expect(sendHelp.code, sendHelp.err).toBe(0)
    expect(sendHelp.out).toMatch(/^stream-app send <app> <topic> \[value\]/)
    for (const o of ['--key-field', '--keyed', '--timestamp', '--header']) expect(sendHelp.out).toContain(o)
    expect(helpTail.code, helpTail.err).toBe(0)
    expect(helpTail.out).toMatch(/^stream-app tail <app> <topic>/)
    for (const o of ['--from', '--partition', '--limit', '--follow', '--group'])
      expect(helpTail.out).toContain(o)
    expect(helpUnknown.code).toBe(1)
    expect(helpUnknown.err.trim()).toMatch(/^stream-app: unknown command 'frobnicate'/)
    expect(typo.code).toBe(1)
    expect(typo.err.trim()).toBe('stream-app: Unknown argument: web-prot')
    expect(greet.code, greet.err).toBe(0)
    expect(greet.out).toBe('hello bob\nrest=["extra","more"]\n')
    expect(extra.code).toBe(1)
    expect(extra.err.trim()).toBe("stream-app: unexpected argument 'extra' (usage: stream-app topics <app>)")
  })
})
