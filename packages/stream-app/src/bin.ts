#!/usr/bin/env node
/**
 * The `stream-app` command. Published as dist/bin.js (built JavaScript); inside
 * the workspace bin/stream-app.js runs this file through tsx.
 */
const code = await (await import('./cli.ts')).runCli(process.argv.slice(2))
// Exit once our output is flushed: a client library that failed half way (a broker
// that refused us) can leave native handles open that would keep the process alive.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
