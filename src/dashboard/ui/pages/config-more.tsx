// The rest of the portal: teams and users (who alarms tell), expressions (rules over any endpoint
// by tags), nodata rules (a value sent when a series stops), and a host group's plugins and
// aggregators.
import { useCallback, useEffect, useState } from 'preact/hooks'
import { OPERATORS } from '../../lib/strategy.js'
import { ApiError, get, post, put, request, withParams } from '../api.js'
import { DeleteButton } from '../components/delete-button.js'
import { RecordForm, type FieldSpec } from '../components/record-form.js'
import { session, useStore, useT } from '../state.js'
import { ConfigNav } from './config.js'

/** A list from the API, loaded now and again on `load()`; `pick` takes the list out of a wrapped reply. */
function useList<T>(
  path: string,
  pick?: (body: never) => T[]
): [T[] | null, string | null, () => Promise<void>] {
  const [rows, setRows] = useState<T[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = useCallback(async () => {
    try {
      const body = await get<T[]>(path)
      setRows(pick === undefined ? body : pick(body as never))
      setError(null)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }, [path])
  useEffect(() => void load(), [load])
  return [rows, error, load]
}

function ErrorLine(props: { error: string | null }) {
  return props.error === null ? null : (
    <p class="error" role="alert">
      {props.error}
    </p>
  )
}

// --- teams and users ---------------------------------------------------------------------------

interface User {
  id: number
  name: string
  cnname: string
  email: string
  phone: string
  role: number
}
interface TeamRow {
  team: { id: number; name: string; resume: string; creator: number }
  creator_name: string
  users: User[]
}

export function TeamsPage(props: { path: string }) {
  const t = useT()
  const [teams, error, load] = useList<TeamRow>('/api/v1/team')
  const [users, , loadUsers] = useList<User>('/api/v1/user/users')
  const [editing, setEditing] = useState<TeamRow | 'new' | null>(null)
  const [actionError, setActionError] = useState<string | null>(null)
  const idsOf = (names: string): number[] => {
    const wanted = names.split(/[\s,]+/).filter((n) => n !== '')
    const byName = new Map((users ?? []).map((u) => [u.name, u.id]))
    const missing = wanted.filter((n) => !byName.has(n))
    if (missing.length > 0) throw new ApiError(400, `users: no user named ${missing.join(', ')}`)
    return wanted.map((n) => byName.get(n)!)
  }
  const fields: FieldSpec[] = [
    { name: 'team_name', label: 'teams.name', required: true },
    { name: 'resume', label: 'teams.resume' },
    { name: 'users', label: 'teams.members', kind: 'textarea', hint: t('teams.membersHint') },
  ]
  return (
    <div>
      <ConfigNav path={props.path} />
      <h1>{t('config.teams')}</h1>
      <ErrorLine error={error ?? actionError} />
      <button type="button" onClick={() => setEditing('new')}>
        {t('teams.new')}
      </button>
      {editing !== null && (
        <RecordForm
          key={editing === 'new' ? 'new' : editing.team.id}
          testId="team-form"
          title={editing === 'new' ? t('teams.new') : editing.team.name}
          fields={fields}
          initial={
            editing === 'new'
              ? { team_name: '', resume: '', users: '' }
              : {
                  team_name: editing.team.name,
                  resume: editing.team.resume,
                  users: editing.users.map((u) => u.name).join(' '),
                }
          }
          onCancel={() => setEditing(null)}
          onSubmit={async (v) => {
            const members = idsOf(v.users)
            if (editing === 'new')
              await post('/api/v1/team', {
                team_name: v.team_name.trim(),
                resume: v.resume,
                users: members,
              })
            else
              await put('/api/v1/team', {
                team_id: editing.team.id,
                name: v.team_name.trim(),
                resume: v.resume,
                users: members,
              })
            setEditing(null)
            await load()
          }}
        />
      )}
      <table data-testid="teams">
        <thead>
          <tr>
            <th>{t('teams.name')}</th>
            <th>{t('teams.resume')}</th>
            <th>{t('teams.members')}</th>
            <th>{t('alarms.creator')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(teams ?? []).map((r) => (
            <tr key={r.team.id}>
              <td>{r.team.name}</td>
              <td>{r.team.resume}</td>
              <td>{r.users.map((u) => u.name).join(', ')}</td>
              <td>{r.creator_name}</td>
              <td>
                <button type="button" onClick={() => setEditing(r)}>
                  {t('common.edit')}
                </button>{' '}
                <DeleteButton
                  path={`/api/v1/team/${r.team.id}`}
                  confirm={t('teams.confirmDelete', { name: r.team.name })}
                  onDone={load}
                  onError={setActionError}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <UsersSection users={users} onChanged={loadUsers} />
    </div>
  )
}

function UsersSection(props: { users: User[] | null; onChanged: () => Promise<void> }) {
  const t = useT()
  const me = useStore(session)
  const [adding, setAdding] = useState(false)
  const [created, setCreated] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const admin = me?.admin === true
  // Admins set roles and delete users; the server applies the role rules (nobody changes root,
  // an admin only users below admin) and its refusal is shown.
  const setRole = async (u: User, role: string) => {
    try {
      await put('/api/v1/admin/change_user_role', { user_id: u.id, role: Number(role) })
      setError(null)
      await props.onChanged()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  const remove = async (u: User) => {
    if (!confirm(t('users.confirmDelete', { name: u.name }))) return
    try {
      await request('DELETE', '/api/v1/admin/delete_user', { user_id: u.id })
      setError(null)
      await props.onChanged()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  return (
    <section>
      <h2>{t('users.title')}</h2>
      {admin && (
        <button type="button" onClick={() => setAdding(!adding)}>
          {t('users.new')}
        </button>
      )}
      {created !== null && <p role="status">{t('users.created', { name: created })}</p>}
      <ErrorLine error={error} />
      {adding && (
        <RecordForm
          title={t('users.new')}
          fields={[
            { name: 'name', label: 'login.name', required: true },
            {
              name: 'password',
              label: 'login.password',
              kind: 'password',
              required: true,
              hint: t('account.passwordRule'),
            },
            { name: 'cnname', label: 'users.cnname' },
            { name: 'email', label: 'users.email' },
            { name: 'phone', label: 'users.phone' },
          ]}
          initial={{ name: '', password: '', cnname: '', email: '', phone: '' }}
          onCancel={() => setAdding(false)}
          onSubmit={async (v) => {
            await post('/api/v1/user/create', v)
            setCreated(v.name)
            setAdding(false)
            await props.onChanged()
          }}
        />
      )}
      <table data-testid="users">
        <thead>
          <tr>
            <th>{t('login.name')}</th>
            <th>{t('users.cnname')}</th>
            <th>{t('users.email')}</th>
            <th>{t('users.phone')}</th>
            <th>{t('users.roleTitle')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(props.users ?? []).map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>{u.cnname}</td>
              <td>{u.email}</td>
              <td>{u.phone}</td>
              <td>
                {admin && u.role !== 2 ? (
                  <select
                    aria-label={t('users.role', { name: u.name })}
                    value={String(u.role)}
                    onChange={(e) => void setRole(u, (e.target as HTMLSelectElement).value)}
                  >
                    {[-1, 0, 1].map((r) => (
                      <option key={r} value={String(r)}>
                        {t(`users.role.${r}` as 'users.role.0')}
                      </option>
                    ))}
                  </select>
                ) : (
                  t(`users.role.${u.role}` as 'users.role.0')
                )}
              </td>
              <td>
                {admin && u.role !== 2 && u.name !== me?.name && (
                  <button type="button" onClick={() => void remove(u)}>
                    {t('common.delete')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}

// --- expressions -------------------------------------------------------------------------------

interface Expression {
  id: number
  expression: string
  func: string
  op: string
  right_value: string
  max_step: number
  priority: number
  note: string
  action_id: number
  create_user: string
  pause: number
  for: number
}

export function ExpressionsPage(props: { path: string }) {
  const t = useT()
  const [rows, error, load] = useList<Expression>('/api/v1/expression')
  const [editing, setEditing] = useState<{ e?: Expression; uic: string } | null>(null)
  const [actionError, setActionError] = useState<string | null>(null)
  const open = async (e?: Expression) => {
    if (e === undefined) return setEditing({ uic: '' })
    try {
      const full = await get<{ action: { uic: string } }>(`/api/v1/expression/${e.id}`)
      setEditing({ e, uic: full.action.uic })
    } catch (err) {
      if (err instanceof ApiError) setActionError(err.message)
    }
  }
  const ops: [string, string][] = OPERATORS.map((o) => [o, o])
  const fields: FieldSpec[] = [
    {
      name: 'expression',
      label: 'expressions.expression',
      required: true,
      hint: 'each(metric=qps endpoint=host1 project=x)',
    },
    { name: 'func', label: 'strategy.func', required: true, hint: t('strategy.funcHint') },
    { name: 'op', label: 'strategy.op', kind: 'select', options: ops },
    { name: 'right_value', label: 'strategy.right_value', required: true },
    { name: 'max_step', label: 'strategy.max_step' },
    { name: 'priority', label: 'strategy.priority', hint: '0–6' },
    { name: 'for', label: 'strategy.for' },
    { name: 'note', label: 'strategy.note' },
    { name: 'uic', label: 'config.teams', hint: t('config.teamsHint') },
    {
      name: 'pause',
      label: 'expressions.paused',
      kind: 'select',
      options: [
        ['0', t('expressions.active')],
        ['1', t('expressions.pausedValue')],
      ],
    },
  ]
  return (
    <div>
      <ConfigNav path={props.path} />
      <h1>{t('config.expressions')}</h1>
      <ErrorLine error={error ?? actionError} />
      <button type="button" onClick={() => void open()}>
        {t('expressions.new')}
      </button>
      {editing !== null && (
        <RecordForm
          key={editing.e?.id ?? 'new'}
          title={editing.e === undefined ? t('expressions.new') : editing.e.expression}
          fields={fields}
          initial={{
            expression: editing.e?.expression ?? '',
            func: editing.e?.func ?? 'all(#3)',
            op: editing.e?.op ?? '>',
            right_value: editing.e?.right_value ?? '',
            max_step: String(editing.e?.max_step ?? 3),
            priority: String(editing.e?.priority ?? 2),
            for: String(editing.e?.for ?? 0),
            note: editing.e?.note ?? '',
            uic: editing.uic,
            pause: String(editing.e?.pause ?? 0),
          }}
          onCancel={() => setEditing(null)}
          onSubmit={async (v) => {
            const body = {
              expression: v.expression,
              func: v.func.trim(),
              op: v.op,
              right_value: v.right_value.trim(),
              max_step: Number(v.max_step),
              priority: Number(v.priority),
              for: Number(v.for || '0'),
              note: v.note,
              pause: Number(v.pause),
              action: {
                uic: v.uic
                  .split(',')
                  .map((s) => s.trim())
                  .filter((s) => s !== ''),
                url: '',
                callback: 0,
                before_callback_sms: 0,
                before_callback_mail: 0,
                after_callback_sms: 0,
                after_callback_mail: 0,
              },
            }
            if (editing.e === undefined) await post('/api/v1/expression', body)
            else await put('/api/v1/expression', { ...body, id: editing.e.id })
            setEditing(null)
            await load()
          }}
        />
      )}
      <table>
        <tbody>
          {(rows ?? []).map((e) => (
            <tr key={e.id}>
              <td>{e.expression}</td>
              <td>
                {e.func} {e.op} {e.right_value}
              </td>
              <td>{t('alarms.priority', { priority: e.priority })}</td>
              <td>{e.pause === 1 ? t('expressions.pausedValue') : t('expressions.active')}</td>
              <td>{e.note}</td>
              <td>
                <button type="button" onClick={() => void open(e)}>
                  {t('common.edit')}
                </button>{' '}
                <DeleteButton
                  path={`/api/v1/expression/${e.id}`}
                  confirm={t('expressions.confirmDelete')}
                  onDone={load}
                  onError={setActionError}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// --- nodata ------------------------------------------------------------------------------------

interface Nodata {
  id: number
  name: string
  obj: string
  obj_type: string
  metric: string
  tags: string
  dstype: string
  step: number
  mock: number
  creator: string
}

export function NodataPage(props: { path: string }) {
  const t = useT()
  const [rows, error, load] = useList<Nodata>('/api/v1/nodata')
  const [editing, setEditing] = useState<Nodata | 'new' | null>(null)
  const [actionError, setActionError] = useState<string | null>(null)
  const fields: FieldSpec[] = [
    { name: 'name', label: 'nodata.name', required: true },
    {
      name: 'obj_type',
      label: 'nodata.objType',
      kind: 'select',
      options: [
        ['host', t('nodata.host')],
        ['group', t('nodata.group')],
        ['other', t('nodata.other')],
      ],
    },
    {
      name: 'obj',
      label: 'nodata.obj',
      kind: 'textarea',
      required: true,
      hint: t('screens.onePerLine'),
    },
    { name: 'metric', label: 'strategy.metric', required: true },
    { name: 'tags', label: 'strategy.tags', hint: 'k=v,k2=v2' },
    { name: 'step', label: 'nodata.step', required: true },
    { name: 'mock', label: 'nodata.mock', required: true, hint: t('nodata.mockHint') },
  ]
  return (
    <div>
      <ConfigNav path={props.path} />
      <h1>{t('config.nodata')}</h1>
      <ErrorLine error={error ?? actionError} />
      <button type="button" onClick={() => setEditing('new')}>
        {t('nodata.new')}
      </button>
      {editing !== null && (
        <RecordForm
          key={editing === 'new' ? 'new' : editing.id}
          title={editing === 'new' ? t('nodata.new') : editing.name}
          fields={fields}
          initial={
            editing === 'new'
              ? {
                  name: '',
                  obj_type: 'host',
                  obj: '',
                  metric: '',
                  tags: '',
                  step: '60',
                  mock: '-1',
                }
              : {
                  name: editing.name,
                  obj_type: editing.obj_type,
                  obj: editing.obj,
                  metric: editing.metric,
                  tags: editing.tags,
                  step: String(editing.step),
                  mock: String(editing.mock),
                }
          }
          onCancel={() => setEditing(null)}
          onSubmit={async (v) => {
            const mock = Number(v.mock)
            const body = {
              name: v.name,
              obj_type: v.obj_type,
              obj: v.obj,
              metric: v.metric,
              tags: v.tags,
              dstype: 'GAUGE',
              step: Number(v.step),
              mock: v.mock.trim() === '' || !Number.isFinite(mock) ? v.mock : mock,
            }
            if (editing === 'new') await post('/api/v1/nodata/', body)
            else await put('/api/v1/nodata/', { ...body, id: editing.id })
            setEditing(null)
            await load()
          }}
        />
      )}
      <table>
        <tbody>
          {(rows ?? []).map((n) => (
            <tr key={n.id}>
              <td>{n.name}</td>
              <td>{n.obj_type}</td>
              <td>{n.obj.split('\n').join(', ')}</td>
              <td>
                {n.metric}
                {n.tags !== '' && `/${n.tags}`}
              </td>
              <td>{n.step}s</td>
              <td>{n.mock}</td>
              <td>
                <button type="button" onClick={() => setEditing(n)}>
                  {t('common.edit')}
                </button>{' '}
                <DeleteButton
                  path={`/api/v1/nodata/${n.id}`}
                  confirm={t('nodata.confirmDelete', { name: n.name })}
                  onDone={load}
                  onError={setActionError}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// --- a host group's plugins and aggregators ----------------------------------------------------

interface Plugin {
  id: number
  dir: string
  create_user: string
}
interface Aggregator {
  id: number
  numerator: string
  denominator: string
  endpoint: string
  metric: string
  tags: string
  step: number
  creator: string
}

export function GroupPlugins(props: { groupId: number }) {
  const t = useT()
  const [rows, error, load] = useList<Plugin>(`/api/v1/hostgroup/${props.groupId}/plugins`)
  const [dir, setDir] = useState('')
  const [formError, setFormError] = useState<string | null>(null)
  const add = async (e: Event) => {
    e.preventDefault()
    try {
      await post('/api/v1/plugin', { hostgroup_id: props.groupId, dir_path: dir.trim() })
      setDir('')
      setFormError(null)
      await load()
    } catch (err) {
      if (err instanceof ApiError) setFormError(err.message)
    }
  }
  return (
    <section>
      <h2>{t('config.plugins')}</h2>
      <ErrorLine error={error} />
      <form class="inline-form" onSubmit={(e) => void add(e)}>
        <label class="field">
          <span class="field-label">{t('config.pluginDir')}</span>
          <input
            value={dir}
            required
            placeholder="sys/ntp"
            onInput={(e) => setDir((e.target as HTMLInputElement).value)}
          />
          {formError !== null && (
            <span class="field-error" role="alert">
              {formError}
            </span>
          )}
        </label>
        <button type="submit">{t('common.add')}</button>
      </form>
      <ul class="rows">
        {(rows ?? []).map((p) => (
          <li key={p.id}>
            <code>{p.dir}</code> <small>{p.create_user}</small>{' '}
            <DeleteButton
              path={`/api/v1/plugin/${p.id}`}
              label="common.remove"
              onDone={load}
              onError={setFormError}
            />
          </li>
        ))}
      </ul>
    </section>
  )
}

export function GroupAggregators(props: { groupId: number }) {
  const t = useT()
  const [rows, error, load] = useList<Aggregator>(
    withParams(`/api/v1/hostgroup/${props.groupId}/aggregators`, { page: 1, limit: 500 }),
    (body: { aggregators: Aggregator[] }) => body.aggregators
  )
  const [adding, setAdding] = useState(false)
  const [actionError, setActionError] = useState<string | null>(null)
  return (
    <section>
      <h2>{t('config.aggregators')}</h2>
      <ErrorLine error={error ?? actionError} />
      <button type="button" onClick={() => setAdding(!adding)}>
        {t('aggregators.new')}
      </button>
      {adding && (
        <RecordForm
          title={t('aggregators.new')}
          fields={[
            {
              name: 'numerator',
              label: 'aggregators.numerator',
              required: true,
              hint: '$(cpu.idle)',
            },
            { name: 'denominator', label: 'aggregators.denominator', required: true, hint: '$#' },
            { name: 'endpoint', label: 'alarms.endpoint', required: true },
            { name: 'metric', label: 'strategy.metric', required: true },
            { name: 'tags', label: 'strategy.tags', hint: 'k=v,k2=v2' },
            { name: 'step', label: 'nodata.step', required: true },
          ]}
          initial={{
            numerator: '',
            denominator: '$#',
            endpoint: '',
            metric: '',
            tags: '',
            step: '60',
          }}
          onCancel={() => setAdding(false)}
          onSubmit={async (v) => {
            await post('/api/v1/aggregator', {
              ...v,
              hostgroup_id: props.groupId,
              step: Number(v.step),
            })
            setAdding(false)
            await load()
          }}
        />
      )}
      <table>
        <tbody>
          {(rows ?? []).map((a) => (
            <tr key={a.id}>
              <td>
                <code>
                  {a.numerator} / {a.denominator}
                </code>
              </td>
              <td>
                {a.endpoint} {a.metric}
                {a.tags !== '' && `/${a.tags}`}
              </td>
              <td>{a.step}s</td>
              <td>
                <DeleteButton
                  path={`/api/v1/aggregator/${a.id}`}
                  onDone={load}
                  onError={setActionError}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}
