/**
 * Where a `sqlite://` URL points: `sqlite://` alone means the default file,
 * `sqlite:///abs/path` an absolute path, `sqlite://rel/path` a relative one.
 */
import { ConfigError } from '@stream-app/core'

export function sqlitePathFromUrl(url: string, fallback: string): string {
  if (!url.startsWith('sqlite://')) throw new ConfigError(`not a sqlite:// URL: ${JSON.stringify(url)}`)
  const rest = url.slice('sqlite://'.length)
  return rest === '' ? fallback : decodeURIComponent(rest)
}
