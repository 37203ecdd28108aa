/**
 * The registration of table kinds: which kind a table definition is, decided
 * here once per table. A new kind is a class in its own file (built on
 * BaseKind or one of the kinds, table-kind.ts) and one entry below. Whether a
 * table is global is not a kind but its placement (table-placement.ts), which
 * composes with any kind.
 */
import type { TableDef } from '../../definition/definition.ts'
import { JoinedKind } from './table-join.ts'
import type { TableKind, TableKindName } from './table-kind.ts'
import { global, type Placement, partitioned } from './table-placement.ts'
import { PlainKind } from './table-plain.ts'
import { SessionKind } from './table-sessions.ts'
import { SetKind } from './table-sets.ts'
import { RangeWindowKind } from './table-windows.ts'
import type { TableRuntime } from './tables.ts'

/** Every kind, by name: how each is built for a table. */
export const KINDS: { readonly [K in TableKindName]: (t: TableRuntime) => TableKind } = {
  plain: (t) => new PlainKind(t),
  windowed: (t) => new RangeWindowKind(t),
  session: (t) => new SessionKind(t),
  set: (t) => new SetKind(t),
  joined: (t) => new JoinedKind(t),
}

/** The kind of a table definition. */
export function kindNameOf(def: TableDef): TableKindName {
  if (def.join !== undefined) return 'joined'
  if (def.set === true) return 'set'
  if (def.window?.kind === 'session') return 'session'
  if (def.window !== undefined) return 'windowed'
  return 'plain'
}

export function kindOf(def: TableDef, t: TableRuntime): TableKind {
  return KINDS[kindNameOf(def)](t)
}

/** Where a table's rows are held; any kind may be global. */
export function placementOf(def: TableDef): Placement {
  return def.global === true ? global : partitioned
}
