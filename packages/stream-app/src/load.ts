/**
 * Loads a user's app file (.ts or .js) and finds the App it exports as
 * `default` or `app`. Failures are one clear line naming the file.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { type App, ConfigError, type Registry } from '@stream-app/core'
import { importAppModule } from './app-module.ts'

const isApp = (v: unknown): v is App<Registry> =>
  typeof v === 'object' &&
  v !== null &&
  'definition' in v &&
  typeof (v as { start?: unknown }).start === 'function'

export async function loadApp(file: string): Promise<App<Registry>> {
  const path = resolve(file)
  if (!existsSync(path)) throw new ConfigError(`app file not found: ${file}`)
  let mod: Record<string, unknown>
  try {
    mod = await importAppModule(path)
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e)
    throw new ConfigError(`cannot load ${file}: ${msg}`)
  }
  const app = mod.default ?? mod.app
  if (!isApp(app))
    throw new ConfigError(`${file} exports no app: use 'export default app' or 'export const app'`)
  return app
}
