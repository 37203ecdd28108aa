#!/usr/bin/env node
// The published stream-app command: runs dist/bin.js after sizing libuv's thread
// pool, which must happen before an ES module loads (see bin/stream-app.js).
process.env.UV_THREADPOOL_SIZE ??= '32'
import('../dist/bin.js')
