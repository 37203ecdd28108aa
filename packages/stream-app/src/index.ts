/**
 * stream-app: what users import. Re-exports the API and wires the default
 * adapters (chosen by URL scheme) into createApp.
 */
import { createAppWith } from '@stream-app/core/runtime'
import { nodePlatform } from './platform.ts'

export {
  type App,
  AskTimeoutError,
  BrokerError,
  ConfigError,
  type Ctx,
  DecodeError,
  type Duration,
  EncodeError,
  type Event,
  hopping,
  type Logger,
  NotCopartitionedError,
  Schema,
  type SendOptions,
  type SetTable,
  StoppedError,
  StoreError,
  type Stream,
  StreamAppError,
  session,
  sliding,
  type Table,
  type TestWorker,
  tumbling,
  type WindowedTable,
  type Worker,
} from '@stream-app/core'

/**
 * Creates an app. The builder is immutable: every method returns a new App.
 *
 * @example
 * export default createApp({ id: 'counter' })
 *   .topic('words', { value: Schema.String })
 *   .table('counts', { default: () => 0 })
 *   .agent('count', { from: 'words' }, async (words, ctx) => {
 *     for await (const w of words) ctx.tables.counts.update(w, (n) => n + 1)
 *   })
 */
/**
 * The JSON shapes of GET /agents and GET /topics. Re-exported from the web
 * package also so that its declaration of the routes' context (hono's, typed
 * by the path) is part of every app's program, built declarations included.
 */
export type { AgentInfo, TableInfo, TopicInfo } from '@stream-app/web'

export const createApp = createAppWith(nodePlatform)
