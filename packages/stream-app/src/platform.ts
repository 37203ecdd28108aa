/**
 * The node platform: app.start() on the adapters a config names, app.test()
 * on memory://, and app.main() through the CLI.
 */
import type { Platform } from '@stream-app/core'
import { startTestWorker } from '@stream-app/core/runtime'
import { cliProgram } from './cli/index.ts'
import { runMain } from './cli/main.ts'
import { startWorker } from './workers.ts'

export const nodePlatform: Platform = {
  start: async (def, overrides) => (await startWorker(def, overrides)).worker,
  test: startTestWorker,
  // The CLI as this process: it exits when the command is done (a worker: on a signal).
  main: (app, argv) =>
    new Promise<void>(() => {
      runMain(cliProgram(argv, { app }))
    }),
}
