#!/usr/bin/env node
/**
 * The `stream-app` command. Published as dist/bin.js (built JavaScript, run by
 * bin/stream-app.cjs); inside the workspace bin/stream-app.js runs this file
 * through tsx. `init` is handled
 * before anything else, as it takes a directory rather than an app file and
 * needs none of the runtime; everything else runs as the CLI's Effect program
 * under runMain (signals, exit codes).
 */
const argv = process.argv.slice(2)
if (argv[0] === 'init') {
  const code = (await import('./init.ts')).runInit(argv.slice(1))
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
} else {
  const [{ cliProgram }, { runMain }] = await Promise.all([import('./cli/index.ts'), import('./cli/main.ts')])
  runMain(cliProgram(argv))
}
