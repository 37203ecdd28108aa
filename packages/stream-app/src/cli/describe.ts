/**
 * What an app defines, as rows for `stream-app topics|agents|tables|routes`
 * (human tables or --json) and for the web server's /topics and /agents.
 */
import type { AnySchema, AppDefinition } from '@stream-app/core'
import { BUILTIN_ROUTES, INFO_ROUTES } from '@stream-app/web'

const schemaName = (s: AnySchema): string => {
  const tag = s.ast._tag
  return tag === 'Objects' ? 'Struct' : tag
}

export function describeApp(def: AppDefinition) {
  const id = def.config.id
  const partitions = (n: number | undefined) => n ?? def.config.topicPartitions ?? 8
  const consumers = (topic: string) =>
    Object.values(def.agents)
      .filter((a) => a.from.includes(topic))
      .map((a) => a.name)
  return {
    topics: Object.values(def.topics).map((t) => ({
      name: t.name,
      partitions: partitions(t.partitions),
      key: schemaName(t.keySchema),
      value: schemaName(t.valueSchema),
      codec: t.codec,
      onInvalid: t.onInvalid,
      agents: consumers(t.name),
      describe: t.describe ?? null,
    })),
    agents: Object.values(def.agents).map((a) => ({
      name: a.name,
      from: [...a.from],
      sink: [...a.sink],
      concurrency: a.concurrency,
      supervisor: a.supervisor,
      describe: a.describe ?? null,
    })),
    tables: Object.values(def.tables).map((t) => ({
      name: t.name,
      key: schemaName(t.keySchema),
      value: schemaName(t.valueSchema),
      window: t.window
        ? `${t.window.kind}(${t.window.sizeMs}ms${t.window.kind === 'hopping' ? `, ${t.window.stepMs}ms` : ''})`
        : null,
      expires: t.window?.expiresMs ?? null,
      changelog: `${id}-${t.name}-changelog`,
      describe: t.describe ?? null,
    })),
    routes: [
      ...def.routes.map((r) => ({ method: r.method, path: r.path, builtin: false })),
      ...BUILTIN_ROUTES.map((path) => ({ method: 'GET', path, builtin: true })),
      // The live page and its data, unless the app answers the path itself.
      ...[...INFO_ROUTES, '/']
        .filter((path) => !def.routes.some((r) => r.method === 'GET' && r.path === path))
        .map((path) => ({ method: 'GET', path, builtin: true })),
    ],
  }
}

/** Prints rows as an aligned text table. */
export function printTable(rows: readonly Record<string, unknown>[], out: (line: string) => void): void {
  if (!rows.length) {
    out('(none)')
    return
  }
  const cols = Object.keys(rows[0]!)
  const cell = (v: unknown) =>
    Array.isArray(v) ? v.join(',') || '-' : v === null || v === undefined ? '-' : String(v)
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  out(
    cols
      .map((c, i) => c.toUpperCase().padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  )
  for (const r of rows)
    out(
      cols
        .map((c, i) => cell(r[c]).padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
}
