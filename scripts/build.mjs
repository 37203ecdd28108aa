#!/usr/bin/env node
// `pnpm build`: emits dist/ of every published package (tsconfig.build.json),
// and of packages/kafka only where its Kafka client is installed. The README's
// default setup leaves that native client out, and kafka's sources are typed by
// the client's own declarations, so without it the package is skipped with one
// line instead of failing the whole build (TS2307).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const KAFKA_CLIENT = 'packages/kafka/node_modules/@confluentinc/kafka-javascript/package.json'

/** Whether `pnpm build` can build packages/kafka here (its client's declarations are installed). */
export const kafkaBuildable = () => existsSync(`${root}${KAFKA_CLIENT}`)

/** tsc -b of the given projects; exits with tsc's status when it fails. */
function tscBuild(...projects) {
  const tsc = `${root}node_modules/typescript/bin/tsc`
  const r = spawnSync(process.execPath, [tsc, '-b', ...projects], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

export function build() {
  tscBuild('tsconfig.build.json')
  if (kafkaBuildable()) tscBuild('packages/kafka/tsconfig.build.json')
  else
    process.stderr.write(
      'build: packages/kafka skipped: its Kafka client is not installed (bash scripts/setup.sh --with-kafka installs it)\n',
    )
}

if (process.argv[1] === fileURLToPath(import.meta.url)) build()
