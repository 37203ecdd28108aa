#!/usr/bin/env node
// The stream-app command inside this workspace: registers tsx so this package's
// sources load as TypeScript with no build step, then runs src/bin.ts, the same
// entry point the published package runs built (bin/stream-app.cjs → dist/bin.js).
//
// CommonJS (bin/package.json), so that this line runs before anything has used
// libuv's thread pool: the pool reads UV_THREADPOOL_SIZE once, when it starts, and
// an ES module's loading starts it. Each blocking librdkafka call (a fetch waiting
// for records, a transaction step, a flush, an offsets query) holds a pool thread
// until it returns, up to its timeout; the default 4 are all taken by a few slow
// calls while Kafka is away or a leader moves, and every other call (the commit
// that would recover, file reads) then queues behind them. An explicit setting is kept.
process.env.UV_THREADPOOL_SIZE ??= '32'
import('tsx/esm/api').then(({ register }) => {
  register()
  return import('../src/bin.ts')
})
