#!/usr/bin/env node
// `npm run release`: builds the workspace and writes release/:
//
//   release/stream-app-<version>.tgz         stream-app with core, sqlite and web inside it, so it
//                                            installs alone: `npm install ./stream-app-<version>.tgz`
//   release/stream-app-kafka-<version>.tgz   the optional packages, installed next to it; they take
//   release/stream-app-schema-registry-…tgz  core from the installed stream-app (a peer dependency)
//   release/registry/*.tgz                   every public package as `npm publish` would send it to
//                                            the registry, one package each (`pnpm pack`)
//
// Inside the release tarball the workspace packages it needs live under vendor/<name>/ and the
// bare specifiers naming them (`'@stream-app/core'`) are rewritten to relative paths; the side
// packages' specifiers become `'stream-app/core'`, a subpath the release tarball exports, so
// every package of an install shares one core (one set of error classes, one runtime).
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, kafkaBuildable } from './build.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = join(root, 'release')
const MAIN = 'stream-app'
/** Shipped as their own tarballs beside the release tarball, not inside it. */
const SIDE = ['@stream-app/kafka', '@stream-app/schema-registry']

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'))
const writeJson = (path, value) => writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`)
const say = (line) => process.stderr.write(`release: ${line}\n`)

/** The workspace's public packages: name → directory. */
function publicPackages() {
  const found = new Map()
  for (const dir of readdirSync(join(root, 'packages'))) {
    const manifest = readJson(join(root, 'packages', dir, 'package.json'))
    if (!manifest.private) found.set(manifest.name, join(root, 'packages', dir))
  }
  return found
}

/** `pnpm pack` (publishConfig applied, workspace: versions filled in) into dest; the tarball's path. */
function pnpmPack(dir, dest) {
  const printed = execFileSync('pnpm', ['pack', '--pack-destination', dest], { cwd: dir, encoding: 'utf8' })
  const file = printed
    .trim()
    .split('\n')
    .findLast((l) => l.trim().endsWith('.tgz'))
  if (!file) throw new Error(`pnpm pack printed no tarball in ${dir}:\n${printed}`)
  return file.trim()
}

/** Unpacks a tarball into a new directory; the package's root in it. */
function unpack(tarball, into) {
  mkdirSync(into, { recursive: true })
  execFileSync('tar', ['xzf', tarball, '-C', into])
  return join(into, 'package')
}

/** Every .js and .d.ts file under dir. */
function codeFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(js|d\.ts)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
}

/** The package name a bare specifier names: `@scope/name/sub` → `@scope/name`. */
const packageOf = (specifier) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/')

/**
 * Rewrites every string literal that is exactly a specifier of one of `names` (or a subpath of it)
 * with `to(specifier, file)`. Exact literals only: a message that mentions a package is left alone.
 */
function rewriteSpecifiers(dir, names, to) {
  const literal = /(['"])(@stream-app\/[a-z-]+(?:\/[A-Za-z0-9_./-]+)?)\1/g
  for (const file of codeFiles(dir)) {
    const text = readFileSync(file, 'utf8')
    const next = text.replace(literal, (whole, quote, specifier) =>
      names.has(packageOf(specifier)) ? `${quote}${to(specifier, file)}${quote}` : whole,
    )
    if (next !== text) writeFileSync(file, next)
  }
}

/** The file a package's exports map gives for a subpath (`.` or `./ports`); throws when none. */
function exportTarget(manifest, subpath) {
  const target = manifest.exports?.[subpath]
  const file = typeof target === 'string' ? target : target?.import
  if (!file) throw new Error(`${manifest.name} exports no ${subpath}`)
  return file
}

/** Merges dependency maps; two different versions of one dependency are a mistake to fix first. */
function mergeDependencies(into, from, source) {
  for (const [name, version] of Object.entries(from ?? {})) {
    if (into[name] !== undefined && into[name] !== version)
      throw new Error(`${source} needs ${name}@${version}, another package ${into[name]}: align them`)
    into[name] = version
  }
}

/** The workspace's LICENSE in a staged package (npm ships it). */
function addLicense(stage) {
  cpSync(join(root, 'LICENSE'), join(stage, 'LICENSE'))
}

function release() {
  build()
  const packages = publicPackages()
  if (!kafkaBuildable()) {
    packages.delete('@stream-app/kafka')
    say('@stream-app/kafka left out: its Kafka client is not installed (bash scripts/setup.sh --with-kafka)')
  }
  rmSync(out, { recursive: true, force: true })
  const registry = join(out, 'registry')
  mkdirSync(registry, { recursive: true })
  const work = mkdtempSync(join(tmpdir(), 'stream-app-release-'))
  try {
    const staged = new Map()
    for (const [name, dir] of packages) {
      const tarball = pnpmPack(dir, registry)
      staged.set(name, unpack(tarball, join(work, name)))
    }
    const manifests = new Map(
      [...staged].map(([name, stage]) => [name, readJson(join(stage, 'package.json'))]),
    )
    const mainStage = staged.get(MAIN)
    const main = manifests.get(MAIN)
    const version = main.version

    // The workspace packages stream-app needs, and theirs in turn, go inside it.
    const vendored = new Set()
    const visit = (manifest) => {
      for (const dep of Object.keys(manifest.dependencies ?? {}))
        if (manifests.has(dep) && !SIDE.includes(dep) && !vendored.has(dep)) {
          vendored.add(dep)
          visit(manifests.get(dep))
        }
    }
    visit(main)
    const vendorDir = (name) => join(mainStage, 'vendor', name.replace(/^@stream-app\//, ''))
    const dependencies = Object.fromEntries(
      Object.entries(main.dependencies).filter(([dep]) => !vendored.has(dep)),
    )
    for (const name of vendored) {
      const manifest = manifests.get(name)
      cpSync(join(staged.get(name), 'dist'), join(vendorDir(name), 'dist'), { recursive: true })
      mergeDependencies(
        dependencies,
        Object.fromEntries(Object.entries(manifest.dependencies ?? {}).filter(([dep]) => !vendored.has(dep))),
        name,
      )
    }
    const resolveVendored = (specifier, file) => {
      const name = packageOf(specifier)
      const sub = `.${specifier.slice(name.length)}`
      const target = join(vendorDir(name), exportTarget(manifests.get(name), sub))
      const path = relative(dirname(file), target)
      return path.startsWith('.') ? path : `./${path}`
    }
    rewriteSpecifiers(mainStage, vendored, resolveVendored)

    // The side packages reach the vendored packages they need through stream-app's exports.
    const shared = new Set()
    for (const side of SIDE.filter((n) => staged.has(n)))
      for (const dep of Object.keys(manifests.get(side).dependencies ?? {}))
        if (vendored.has(dep)) shared.add(dep)
    const exports = { ...main.exports }
    for (const name of shared) {
      const short = name.replace(/^@stream-app\//, '')
      for (const [sub, target] of Object.entries(manifests.get(name).exports)) {
        const key = `./${short}${sub.slice(1)}`
        if (target === null) {
          exports[key] = null
          continue
        }
        const at = (file) => `./${relative(mainStage, join(vendorDir(name), file))}`
        exports[key] = { types: at(target.types), import: at(target.import), default: at(target.import) }
      }
    }
    const { devDependencies: _dev, scripts: _scripts, optionalDependencies, ...rest } = main
    const optional = Object.fromEntries(
      Object.entries(optionalDependencies ?? {}).filter(
        ([dep]) => !manifests.has(dep) && !SIDE.includes(dep),
      ),
    )
    writeJson(join(mainStage, 'package.json'), {
      ...rest,
      exports,
      files: [...main.files, 'vendor/**/*.js', 'vendor/**/*.d.ts'],
      dependencies,
      ...(Object.keys(optional).length ? { optionalDependencies: optional } : {}),
    })
    cpSync(join(root, 'README.md'), join(mainStage, 'README.md'))
    addLicense(mainStage)

    for (const side of SIDE.filter((n) => staged.has(n))) {
      const stage = staged.get(side)
      const { devDependencies: _dev, scripts: _scripts, ...manifest } = manifests.get(side)
      rewriteSpecifiers(stage, vendored, (specifier) => `${MAIN}/${specifier.slice('@stream-app/'.length)}`)
      writeJson(join(stage, 'package.json'), {
        ...manifest,
        dependencies: Object.fromEntries(
          Object.entries(manifest.dependencies ?? {}).filter(([dep]) => !vendored.has(dep)),
        ),
        peerDependencies: { ...manifest.peerDependencies, [MAIN]: version },
      })
      addLicense(stage)
    }

    for (const name of [MAIN, ...SIDE.filter((n) => staged.has(n))]) {
      const [packed] = JSON.parse(
        execFileSync('npm', ['pack', '--json', '--pack-destination', out], {
          cwd: staged.get(name),
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }),
      )
      say(`${join('release', packed.filename)} (${name}, ${packed.entryCount} files, ${packed.size} bytes)`)
    }
    say(`release/registry: ${readdirSync(registry).join(', ')}`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

release()
