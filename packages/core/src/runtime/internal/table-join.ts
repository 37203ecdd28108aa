/**
 * Table–table joins (tableJoin): a table derived key for key from two others.
 * A change of a key in either source recomputes that key of the derived table
 * in the same step, so it is committed with them (its own changelog and store
 * rows, recovered like any table). The sources must be co-partitioned. A
 * joined table is a plain table that only the join writes: agents read it.
 */
import { ConfigError, NotCopartitionedError } from '../../definition/errors.ts'
import type { Cursor } from './cursor.ts'
import { PlainKind, PlainView } from './table-plain.ts'
import type { DerivedTable, TableRuntime } from './tables.ts'

export class JoinedKind extends PlainKind {
  override readonly name = 'joined'

  override view(cursor: Cursor): PlainView {
    return new JoinedView(this.t, cursor)
  }
}

/** A joined table's ctx view: reads as a plain table's, refuses writes. */
class JoinedView extends PlainView {
  override set(_key: unknown, _value: unknown): void {
    throw this.refused()
  }
  override update(_key: unknown, _fn: (value: unknown) => unknown): void {
    throw this.refused()
  }
  override delete(_key: unknown): void {
    throw this.refused()
  }
  private refused(): ConfigError {
    const j = this.t.def.join!
    return new ConfigError(
      `table '${this.t.name}' is joined from '${j.left}' and '${j.right}': the join writes it, agents only read it`,
    )
  }
}

export function wireTableJoins(tables: ReadonlyMap<string, TableRuntime>): void {
  for (const d of tables.values()) {
    const j = d.def.join
    if (j === undefined) continue
    const l = tables.get(j.left)
    const r = tables.get(j.right)
    if (!l || !r) throw new ConfigError(`table join '${d.name}': no table '${!l ? j.left : j.right}'`)
    if (l.partitions !== undefined && r.partitions !== undefined && l.partitions !== r.partitions)
      throw new NotCopartitionedError(
        `table join '${d.name}': table '${l.name}' has ${l.partitions} partitions and '${r.name}' ${r.partitions}: a table–table join needs them co-partitioned (the same key and partition count)`,
      )
    const join = new TableJoin(d, l, r)
    l.derivedFrom.push(join)
    r.derivedFrom.push(join)
  }
}

/** One joined table: a key that changes in either source is computed again from both. */
class TableJoin implements DerivedTable {
  constructor(
    private readonly d: TableRuntime,
    private readonly l: TableRuntime,
    private readonly r: TableRuntime,
  ) {}

  recompute(key: unknown, partition: number): void {
    const { d, l, r } = this
    const j = d.def.join!
    const lv = l.rows.get(l.baseKey(key))
    const rv = r.rows.get(r.baseKey(key))
    const base = d.baseKey(key)
    if (lv === undefined || (j.type === 'inner' && rv === undefined)) d.remove(base, partition)
    else d.put(base, key, j.fn(lv.value, rv?.value, key), partition)
  }
}
