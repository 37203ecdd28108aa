#!/usr/bin/env node
/**
 * The `stream-app` command. Published as dist/bin.js (built JavaScript); inside
 * the workspace bin/stream-app.js runs this file through tsx. `init` is handled
 * before anything else, as it takes a directory rather than an app file and
 * needs none of the runtime.
 */
const argv = process.argv.slice(2)
const code =
  argv[0] === 'init'
    ? (await import('./init.ts')).runInit(argv.slice(1))
    : await (await import('./cli.ts')).runCli(argv)
// Exit once our output is flushed: a client library that failed half way (a broker
// that refused us) can leave native handles open that would keep the process alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
