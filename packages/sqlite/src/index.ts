/**
 * @stream-app/sqlite: the `sqlite://` adapters. `openSqliteBroker` is the
 * embedded durable broker shared by every process on the machine;
 * `openSqliteStore` is the per-app table store.
 */
export {
  DEFAULT_BROKER_PATH,
  openSqliteBroker,
  SqliteBroker,
  type SqliteBrokerOptions,
  SqliteReader,
} from './broker.ts'
export { BUSY_TIMEOUT_MS } from './db.ts'
export type { BrokerFile, PollOwner } from './file.ts'
export { SqliteGroupConsumer } from './group.ts'
export { decodeHeaders, encodeHeaders } from './headers.ts'
export { sqliteBrokerLayer, sqliteStoreLayer } from './layers.ts'
export type { MaintenanceOptions, MaintenanceResult } from './maintenance.ts'
export { type ResetResult, resetApp } from './reset.ts'
export { openSqliteStore, SqliteStore } from './store.ts'
export { sqlitePathFromUrl } from './url.ts'
