#!/usr/bin/env node
// The stream-app command inside this workspace: registers tsx so this package's
// sources load as TypeScript with no build step, then runs src/bin.ts, the same
// entry point the published package runs built (dist/bin.js).
import { register } from 'tsx/esm/api'

register()
await import('../src/bin.ts')
