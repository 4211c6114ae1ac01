// Test support for hbs: a portal with a template tree, groups, hosts, strategies, expressions and
// plugin dirs, written through the store as the API would write them.
import type { Kysely } from 'kysely'
import type { PortalDatabase } from '../store/index.js'

/** Portal names the ids of what seedPortal wrote. */
export interface Portal {
  tpl: { base: number; web: number; webProd: number; db: number; cycA: number; cycB: number }
  /** s: strategy ids by name. */
  s: Record<string, number>
  host: Record<string, number>
}

/** NOON, NIGHT (23:30), LATE (00:30): local wall-clock times the run windows below are tested at. */
export const NOON = new Date(2024, 4, 15, 12, 0).getTime()
export const NIGHT = new Date(2024, 4, 15, 23, 30).getTime()
export const LATE = new Date(2024, 4, 16, 0, 30).getTime()

/**
 * seedPortal writes this portal (maintenance is judged against `now`, ms):
 *
 *   templates   base ── web ── webProd        cycA ⇄ cycB
 *                    └─ db
 *   groups      gProd → webProd, base (base is inherited anyway)   gWeb → web   gDb → db
 *               gCycle → cycA   gPlug → (no template; plugin dirs)
 *   hosts       prod ∈ gProd, gPlug     both ∈ gWeb, gDb     maint ∈ gProd (in maintenance)
 *               cycle ∈ gCycle          bare (no group)
 */
export async function seedPortal(db: Kysely<PortalDatabase>, now: number): Promise<Portal> {
  const nowSec = Math.floor(now / 1000)
  const id = (r: { insertId?: bigint }) => Number(r.insertId)
  const tpl = async (name: string, parent: number, action: number) =>
    id(
      await db
        .insertInto('tpl')
        .values({ tpl_name: name, parent_id: parent, action_id: action, create_user: 'root' })
        .executeTakeFirst()
    )
  const base = await tpl('base', 0, 1)
  const web = await tpl('web', base, 2)
  const webProd = await tpl('web-prod', web, 3)
  const dbT = await tpl('db', base, 4)
  const cycA = await tpl('cyc-a', 0, 5)
  const cycB = await tpl('cyc-b', cycA, 5)
  await db.updateTable('tpl').set({ parent_id: cycB }).where('id', '=', cycA).execute()

  const s: Record<string, number> = {}
  const strategy = async (
    name: string,
    tplId: number,
    metric: string,
    tags = '',
    extra: { right_value?: string; run_begin?: string; run_end?: string; priority?: number } = {}
  ) => {
    s[name] = id(
      await db
        .insertInto('strategy')
        .values({
          metric,
          tags,
          func: 'all(#3)',
          op: '>=',
          right_value: '90',
          max_step: 3,
          priority: 1,
          note: name,
          tpl_id: tplId,
          ...extra,
        })
        .executeTakeFirst()
    )
  }
  await strategy('cpuBase', base, 'cpu.idle')
  await strategy('dfRootBase', base, 'df.bytes.free.percent', 'mount=/')
  await strategy('portBase', base, 'net.port.listen', 'port=22')
  await strategy('cpuWeb', web, 'cpu.idle', '', { right_value: '80' })
  await strategy('dfDataWeb', web, 'df.bytes.free.percent', 'mount=/data')
  await strategy('memWeb', web, 'mem.free', 'b=2,a=1')
  await strategy('dfRootProd', webProd, 'df.bytes.free.percent', 'mount=/', { priority: 0 })
  await strategy('loadProd', webProd, 'load.1min', '', { right_value: '1.5e1' })
  // Active 00:00–01:00 only: outside it, web's cpu.idle is not replaced.
  await strategy('cpuProdLate', webProd, 'cpu.idle', '', { run_begin: '00:00', run_end: '01:00' })
  await strategy('nightProd', webProd, 'backup.running', '', {
    run_begin: '22:00',
    run_end: '06:00',
  })
  await strategy('nginxProd', webProd, 'proc.num', 'name=nginx', {
    run_begin: '00:00',
    run_end: '01:00',
  })
  await strategy('badValueProd', webProd, 'bad.value', '', { right_value: 'ninety' })
  await strategy('mysqlDb', dbT, 'mysql.alive')
  await strategy('cycA', cycA, 'cycle.metric')
  await strategy('orphan', 9999, 'orphan.metric')

  const grp = async (name: string) =>
    id(await db.insertInto('grp').values({ grp_name: name }).executeTakeFirst())
  const gProd = await grp('prod')
  const gWeb = await grp('web')
  const gDb = await grp('db')
  const gCycle = await grp('cycle')
  const gPlug = await grp('plug')
  await db
    .insertInto('grp_tpl')
    .values([
      { grp_id: gProd, tpl_id: webProd },
      { grp_id: gProd, tpl_id: base },
      { grp_id: gWeb, tpl_id: web },
      { grp_id: gDb, tpl_id: dbT },
      { grp_id: gCycle, tpl_id: cycA },
    ])
    .execute()

  const host: Record<string, number> = {}
  const addHost = async (name: string, maintain?: [number, number]) => {
    host[name] = id(
      await db
        .insertInto('host')
        .values({
          hostname: name,
          ip: '10.0.0.1',
          agent_version: '5.1.2',
          plugin_version: 'abc',
          ...(maintain === undefined
            ? {}
            : { maintain_begin: maintain[0], maintain_end: maintain[1] }),
        })
        .executeTakeFirst()
    )
  }
  await addHost('prod')
  await addHost('both')
  await addHost('maint', [nowSec - 60, nowSec + 60])
  await addHost('cycle')
  await addHost('bare')
  // Maintenance that ended a second ago.
  await addHost('after', [nowSec - 3600, nowSec - 1])
  await db
    .insertInto('grp_host')
    .values([
      { grp_id: gProd, host_id: host.prod },
      { grp_id: gPlug, host_id: host.prod },
      { grp_id: gWeb, host_id: host.both },
      { grp_id: gDb, host_id: host.both },
      { grp_id: gProd, host_id: host.maint },
      { grp_id: gCycle, host_id: host.cycle },
      { grp_id: gProd, host_id: host.after },
    ])
    .execute()
  await db
    .insertInto('plugin_dir')
    .values([
      { grp_id: gProd, dir: 'sys/ntp' },
      { grp_id: gProd, dir: 'a/60_x.py(arg1,arg2)' },
      { grp_id: gPlug, dir: 'sys/ntp' },
      { grp_id: gPlug, dir: 'b' },
    ])
    .execute()

  const expression = (
    e: string,
    extra: { action_id?: number; pause?: number; right_value?: string }
  ) =>
    db
      .insertInto('expression')
      .values({
        expression: e,
        func: 'all(#1)',
        op: '>',
        right_value: '100',
        max_step: 2,
        priority: 3,
        note: e,
        action_id: 9,
        create_user: 'root',
        ...extra,
      })
      .execute()
  await expression('each(metric=qps endpoint=h1 project=x)', {})
  await expression('each(metric=qps)', {})
  await expression('each(metric=qps endpoint=h1 project=x)', { action_id: 0 })
  await expression('each(metric=qps endpoint=h1 project=x)', { pause: 1 })
  await expression('each(metric=qps endpoint=h1', {})
  await expression('each(metric=rps endpoint=h2)', { right_value: 'x' })
  await expression('each(endpoint=h3 metric=load)', { right_value: '-2.5' })
  return { tpl: { base, web, webProd, db: dbT, cycA, cycB }, s, host }
}
