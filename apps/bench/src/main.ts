/**
 * `pnpm bench [--json] [--only name]`: runs every workload, each next to its
 * baseline in the same run, and prints a table or JSON lines.
 */
import { benchMemory } from './memory.ts'
import { printResult, type Result } from './report.ts'

const args = process.argv.slice(2)
const json = args.includes('--json')
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined

const workloads: [string, () => Promise<Result>][] = [['memory', () => benchMemory()]]

for (const [name, run] of workloads) {
  if (only && only !== name) continue
  try {
    printResult(await run(), json)
  } catch (e) {
    process.stderr.write(`bench ${name} failed: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exitCode = 1
  }
}
