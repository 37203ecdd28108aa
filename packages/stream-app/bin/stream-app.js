#!/usr/bin/env node
// The stream-app command. Registers tsx so app files (and this package) load as
// TypeScript with no build step, then runs the CLI.
import { register } from 'tsx/esm/api'

register()
const { runCli } = await import('../src/cli.ts')
process.exitCode = await runCli(process.argv.slice(2))
