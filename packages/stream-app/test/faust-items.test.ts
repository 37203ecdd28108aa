/**
 * README's "Coming from Faust" covers every Faust App setting and decorator
 * option listed in docs/faust-app-items.txt: an item without a row, a row for
 * no item, or "not applicable" without a reason fails.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))

const items = readFileSync(`${root}docs/faust-app-items.txt`, 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))

const readme = readFileSync(`${root}README.md`, 'utf8')
const section = readme.slice(
  readme.indexOf('## Coming from Faust'),
  readme.indexOf('\n## ', readme.indexOf('## Coming from Faust') + 1),
)

/** The table's rows: the Faust item (first cell, in backticks) → what stream-app has. */
const rows = new Map<string, string>()
for (const line of section.split('\n')) {
  const m = /^\| `([^`]+)` \| (.*) \|$/.exec(line)
  if (m) rows.set(m[1]!, m[2]!.trim())
}

describe('Coming from Faust', () => {
  it('lists the Faust items (the list parsed, not empty)', () => {
    expect(items.length).toBeGreaterThan(100)
    expect(items).toContain('App(consumer_auto_offset_reset)')
    expect(items).toContain('@app.agent(supervisor_strategy)')
  })

  it('has a row for every item, and no row for something not in the list', () => {
    expect(items.filter((i) => !rows.has(i))).toEqual([])
    expect([...rows.keys()].filter((r) => !items.includes(r))).toEqual([])
  })

  it('gives a stream-app name or a reason in every row', () => {
    const bad = [...rows].filter(
      ([, says]) =>
        says === '' || (/^not applicable/.test(says) && !/^not applicable(:|, as above)/.test(says)),
    )
    expect(bad).toEqual([])
  })
})
