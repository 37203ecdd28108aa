/**
 * `stream-app init <dir> [--template word-count|minimal|kafka]`: writes a small
 * typed project (see init-templates.ts) that installs, passes `npm test` and
 * runs with `npm start` as it is. Its `stream-app` dependency is written the
 * way the running stream-app was installed, so `npm install` there finds the
 * same package: a release tarball by its absolute path, a registry install by
 * its version. It never overwrites anything: the directory must be new or empty.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type ScaffoldDependencies, scaffold, TEMPLATES, type Template } from './init-templates.ts'

export { SCAFFOLD_DEV_DEPENDENCIES } from './init-templates.ts'

const USAGE = `usage: stream-app init <dir> [--template ${TEMPLATES.join('|')}]   (writes a new project into a new or empty directory)`

/** This package's root: the directory of its package.json (src/ or dist/ is one level down). */
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url))

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'))

const ownVersion = (): string => (readJson(join(PACKAGE_DIR, 'package.json')) as { version: string }).version

/** A valid npm package name and app id from the directory's name. */
const nameFor = (dir: string): string =>
  basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '') || 'stream-app-project'

/**
 * Where npm took the package installed at `packageDir` from: the `resolved` of its entry in the
 * lockfile npm keeps beside it (node_modules/.package-lock.json, or the project's package-lock.json).
 * Undefined when it was not installed by npm into a node_modules folder (the workspace, pnpm, a link).
 */
function resolvedFrom(packageDir: string): { resolved: string; project: string } | undefined {
  const nodeModules = dirname(packageDir)
  if (basename(nodeModules) !== 'node_modules') return undefined
  const project = dirname(nodeModules)
  const key = `node_modules/${basename(packageDir)}`
  for (const lockfile of [join(nodeModules, '.package-lock.json'), join(project, 'package-lock.json')]) {
    try {
      const lock = readJson(lockfile) as { packages?: Record<string, { resolved?: string }> }
      const resolved = lock.packages?.[key]?.resolved
      if (resolved) return { resolved, project }
    } catch {
      // no such lockfile, or not one npm wrote: try the next
    }
  }
  return undefined
}

/**
 * The `stream-app` dependency a new project needs to install the same stream-app as the one
 * running: `file:<absolute path>` for a tarball or folder (npm wrote it relative to its project),
 * the URL for a tarball fetched from elsewhere, and `^<version>` from a registry or otherwise.
 */
export function installedSpec(packageDir: string, version: string): string {
  const from = resolvedFrom(packageDir)
  if (!from) return `^${version}`
  if (from.resolved.startsWith('file:')) return `file:${resolve(from.project, from.resolved.slice(5))}`
  // A registry serves a package's tarballs at <registry>/<name>/-/<name>-<version>.tgz.
  if (/\/-\/[^/]+\.tgz$/.test(from.resolved)) return `^${version}`
  return from.resolved
}

/**
 * The project's dependencies. The kafka template also needs the Kafka package: from a release
 * tarball, the Kafka tarball `npm run release` wrote beside it; otherwise the same version.
 */
function dependenciesFor(template: Template): ScaffoldDependencies | string {
  const version = ownVersion()
  const streamApp = installedSpec(PACKAGE_DIR, version)
  if (template !== 'kafka') return { 'stream-app': streamApp }
  if (!/^file:.*\.tgz$/.test(streamApp))
    return { 'stream-app': streamApp, '@stream-app/kafka': `^${version}` }
  const tarball = join(dirname(streamApp.slice(5)), `stream-app-kafka-${version}.tgz`)
  if (!existsSync(tarball))
    return `--template kafka needs ${tarball} (the Kafka package of the release stream-app was installed from); it is not there`
  return { 'stream-app': streamApp, '@stream-app/kafka': `file:${tarball}` }
}

/** The directory and template of `init`'s arguments, or the line saying what is wrong. */
function parseArgs(args: readonly string[]): { dir: string; template: Template } | string {
  const positional: string[] = []
  let template: string = 'word-count'
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '--template' || arg.startsWith('--template=')) {
      const value = arg === '--template' ? args[++i] : arg.slice('--template='.length)
      if (value === undefined || value === '') return `--template needs a value: ${TEMPLATES.join(', ')}`
      template = value
    } else if (arg.startsWith('-')) return USAGE
    else positional.push(arg)
  }
  if (!(TEMPLATES as readonly string[]).includes(template))
    return `unknown template '${template}' (templates: ${TEMPLATES.join(', ')})`
  const [dir, ...rest] = positional
  if (dir === undefined || rest.length > 0) return USAGE
  return { dir, template: template as Template }
}

export function runInit(
  args: readonly string[],
  out: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
  err: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): number {
  if (args.includes('--help') || args.includes('-h')) {
    out(USAGE)
    return 0
  }
  const parsed = parseArgs(args)
  if (typeof parsed === 'string') {
    err(`stream-app: ${parsed}`)
    return 1
  }
  const { dir, template } = parsed
  const path = resolve(dir)
  if (existsSync(path) && (!statSync(path).isDirectory() || readdirSync(path).length > 0)) {
    err(`stream-app: ${dir} is not empty: init writes a new project into a new or empty directory`)
    return 1
  }
  const dependencies = dependenciesFor(template)
  if (typeof dependencies === 'string') {
    err(`stream-app: ${dependencies}`)
    return 1
  }
  const files = scaffold(nameFor(path), dependencies, template)
  mkdirSync(path, { recursive: true })
  for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text, { flag: 'wx' })
  out(`created ${Object.keys(files).join(', ')} in ${dir}; next:`)
  if (path !== process.cwd()) out(`  cd ${/\s/.test(dir) ? JSON.stringify(dir) : dir}`)
  out('  npm install')
  out('  npm test     # type-checks and runs app.test.ts')
  out(
    template === 'minimal'
      ? '  npm start    # runs the app; npx stream-app send app.ts names \'"ann"\' from another shell'
      : `  npm start    # runs the app${template === 'kafka' ? ' on Kafka at 127.0.0.1:9092 (STREAM_APP_BROKER=kafka://host:port elsewhere)' : ''}: http://127.0.0.1:6066/count/hello`,
  )
  return 0
}
