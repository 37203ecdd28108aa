/**
 * How the CLI imports a user's app file.
 *
 * `.ts` and `.mts` app files are always ES modules, wherever they live. tsx on
 * its own follows the nearest package.json: an app.ts in a folder without one,
 * or whose package.json lacks `"type": "module"`, would be compiled to CommonJS,
 * which fails ("Cannot require() ES Module … in a cycle") and could not hold a
 * top-level await anyway. A small resolve hook marks the app file itself as a
 * module; the files it imports keep tsx's rules (their package's "type"), so a
 * CommonJS helper next to it still works. `.cts` app files are refused: their
 * require() of stream-app (an ES module) fails under the loader hooks on Node
 * 20 with an error that names neither the file nor the cause.
 *
 * `.js`, `.mjs` and `.cjs` app files are imported as they are and follow Node's
 * rules for their package: a `.js` file is a module under `"type": "module"` or
 * where Node detects module syntax (no package.json; one without "type", with a
 * warning); a CommonJS app can require('stream-app') from Node 20.19 on.
 *
 * Everything is imported into this process's one module graph (not tsx's
 * tsImport, which loads a second copy of stream-app and its dependencies), so the
 * app and the CLI share one stream-app.
 */
import { register } from 'node:module'
import { pathToFileURL } from 'node:url'

const TYPESCRIPT = /\.m?ts$/i

// Runs on Node's hooks thread; `importer` is this module's URL, so only the app
// file imported below is affected, never a dependency.
const HOOKS = `
let importer
export function initialize(data) { importer = data.importer }
export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context)
  if (context.parentURL === importer && /\\.m?ts$/i.test(new URL(resolved.url).pathname))
    return { ...resolved, format: 'module' }
  return resolved
}
`

let typescript: Promise<void> | undefined

/** Imports an app file (an absolute path) as described above and returns its namespace. */
export async function importAppModule(path: string): Promise<Record<string, unknown>> {
  if (/\.cts$/i.test(path)) throw new Error('a .cts app file is not supported: write the app as .ts or .mts')
  if (TYPESCRIPT.test(path)) await (typescript ??= enableTypeScript())
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>
}

async function enableTypeScript(): Promise<void> {
  // Running from the workspace sources this module is TypeScript itself: whoever
  // loaded it (bin/stream-app.js, through tsx) compiles TypeScript already.
  if (!import.meta.url.endsWith('.ts')) (await import('tsx/esm/api')).register()
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { importer: import.meta.url } })
}
