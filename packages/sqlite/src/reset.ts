/**
 * `stream-app reset --topics` on the embedded broker: deletes an app's topics
 * (the ones it declares and its internal `<app>-…` topics: changelogs,
 * repartitions, replies, the leader topic) with their records and every
 * group's offsets on them, and the app's consumer group. Refused while a
 * worker of the app is alive in the group, so nothing running loses its log.
 */
import { BrokerError } from '@stream-app/core'
import type { BrokerFile } from './file.ts'
import type { TopicInfo } from './log.ts'

export interface ResetResult {
  /** Each deleted topic with how many records it held. */
  readonly topics: readonly { readonly name: string; readonly records: number }[]
  /** The consumer group removed (its members and committed offsets), if it existed. */
  readonly group: string | undefined
}

/** The app's topics that exist in the file: declared ones and its internal `<app>-…` ones. */
const appTopics = (b: BrokerFile, appId: string, declared: readonly string[]): TopicInfo[] => {
  const names = new Set(declared)
  return b.log.allTopics().filter((t) => names.has(t.name) || t.name.startsWith(`${appId}-`))
}

export function resetApp(
  b: BrokerFile,
  appId: string,
  declared: readonly string[],
  now = Date.now(),
): ResetResult {
  return b.write('resetting the app', () => {
    const live = b.db
      .prepare<[string, number], { pid: number; host: string }>(
        'SELECT pid, host FROM group_members WHERE grp = ? AND heartbeat_at > ?',
      )
      .all(appId, now - b.sessionTimeoutMs)
    if (live.length)
      throw new BrokerError(
        `reset: ${live.length} worker(s) of '${appId}' are running (${live.map((m) => `pid ${m.pid} on ${m.host}`).join(', ')}); stop them first`,
        false,
      )
    const deleteRecords = b.db.prepare('DELETE FROM records WHERE tp = ?')
    const deletePartitions = b.db.prepare('DELETE FROM partitions WHERE topic = ?')
    const deleteTopic = b.db.prepare('DELETE FROM topics WHERE name = ?')
    const deleteOffsets = b.db.prepare('DELETE FROM group_offsets WHERE topic = ?')
    const topics = appTopics(b, appId, declared).map(({ name, ids }) => {
      let records = 0
      for (const id of ids) records += deleteRecords.run(id).changes
      deletePartitions.run(name)
      deleteTopic.run(name)
      deleteOffsets.run(name)
      b.log.forgetTopic(name)
      return { name, records }
    })
    const groups = b.db.prepare('DELETE FROM consumer_groups WHERE grp = ?').run(appId).changes
    const members = b.db.prepare('DELETE FROM group_members WHERE grp = ?').run(appId).changes
    const offsets = b.db.prepare('DELETE FROM group_offsets WHERE grp = ?').run(appId).changes
    return { topics, group: groups + members + offsets > 0 ? appId : undefined }
  })
}
