/**
 * A user's app type-checks without the Kafka package: the program tsc builds
 * for an app file importing 'stream-app' holds no file of packages/kafka or of
 * the native Kafka client, so it checks the same whether or not that client
 * was built (the README's default setup leaves it out).
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')

describe('type-checking an app', () => {
  it('never reads the Kafka package, and passes', { timeout: 60_000 }, () => {
    const dir = join(root, '.cache', 'typecheck-app')
    mkdirSync(dir, { recursive: true })
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.base.json',
        files: [join(root, 'apps/examples/word-count.ts'), join(root, 'apps/examples/page-views.ts')],
      }),
    )
    const list = spawnSync(process.execPath, [tsc, '-p', dir, '--listFilesOnly'], { encoding: 'utf8' })
    expect(list.status, list.stdout + list.stderr).toBe(0)
    const files = list.stdout.split('\n').filter(Boolean)
    expect(files.some((f) => f.includes('/packages/stream-app/src/'))).toBe(true)
    expect(files.filter((f) => f.includes('/packages/kafka/') || f.includes('@confluentinc'))).toEqual([])
    const check = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
    expect(check.status, check.stdout + check.stderr).toBe(0)
  })
})
