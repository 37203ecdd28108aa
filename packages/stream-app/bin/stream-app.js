#!/usr/bin/env node
// The stream-app command. Registers tsx so app files (and this package) load as
// TypeScript with no build step, then runs the CLI.
import { register } from 'tsx/esm/api'

register()
const { runCli } = await import('../src/cli.ts')
const code = await runCli(process.argv.slice(2))
// Exit once our output is flushed: a client library that failed half way (a broker
// that refused us) can leave native handles open that would keep the process alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
