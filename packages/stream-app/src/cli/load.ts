/**
 * Loads a user's app file (.ts or .js) and finds the App it exports as
 * `default` or `app`. Failures are one clear line naming the file: a syntax
 * error with its line and column, an error thrown at import with its message.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { type App, ConfigError, type Registry } from '@stream-app/core'
import { messageOf } from '@stream-app/core/runtime'
import { importAppModule } from '../app-module.ts'

const isApp = (v: unknown): v is App<Registry> =>
  typeof v === 'object' &&
  v !== null &&
  'definition' in v &&
  typeof (v as { start?: unknown }).start === 'function'

/**
 * Why an app file did not load, as one line. A TypeScript syntax error
 * (esbuild's "Transform failed with 1 error:" and then `path:line:col: ERROR:
 * message`) becomes `file:line:col: message`.
 */
export function loadError(file: string, e: unknown): string {
  const text = e instanceof Error ? e.message : String(e)
  const located = /^(.*?):(\d+):(\d+): (?:ERROR: )?(.+)$/m.exec(text.split('\n').slice(1).join('\n'))
  if (/^Transform failed/.test(text) && located)
    // esbuild counts columns from 0; editors (and tsc) from 1.
    return `cannot load ${file}:${located[2]}:${Number(located[3]) + 1}: ${located[4]!.trim()}`
  // Node's own SyntaxError (a .js file) names the line in its stack's first frame.
  if (e instanceof SyntaxError) {
    const at = /:(\d+)(?::(\d+))?\s*$/m.exec((e.stack ?? '').split('\n')[0] ?? '')
    if (at) return `cannot load ${file}:${at[1]}${at[2] ? `:${at[2]}` : ''}: ${messageOf(e)}`
  }
  return `cannot load ${file}: ${messageOf(text.split('\n')[0])}`
}

export async function loadApp(file: string): Promise<App<Registry>> {
  const path = resolve(file)
  if (!existsSync(path)) throw new ConfigError(`app file not found: ${file}`)
  let mod: Record<string, unknown>
  try {
    mod = await importAppModule(path)
  } catch (e) {
    throw new ConfigError(loadError(file, e))
  }
  const app = mod.default ?? mod.app
  if (!isApp(app))
    throw new ConfigError(`${file} exports no app: use 'export default app' or 'export const app'`)
  return app
}
