// Configuration, falcon-dashboard's portal: host groups and their hosts and templates, templates
// with parents, strategies and actions. Every write shows the server's field error next to its
// field.
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks'
import {
  checkStrategy,
  OPERATORS,
  strategyBody,
  type StrategyErrors,
  type StrategyForm,
} from '../../lib/strategy.js'
import { splitFieldErrors } from '../../lib/links.js'
import { ApiError, del, get, patch, post, put, withParams } from '../api.js'
import { Field } from '../components/form.js'
import { Link } from '../components/link.js'
import { navigate, useT, type Route, type Translate } from '../state.js'
import { Pager } from './charts.js'
import { GroupAggregators, GroupPlugins } from './config-more.js'

interface HostGroup {
  id: number
  grp_name: string
  create_user: string
}
interface Host {
  id: number
  hostname: string
  ip: string
  agent_version: string
  plugin_version: string
  maintain_begin: number
  maintain_end: number
}
interface Template {
  id: number
  tpl_name: string
  parent_id: number
  action_id: number
  create_user: string
}
interface Strategy {
  id: number
  metric: string
  tags: string
  max_step: number
  priority: number
  func: string
  op: string
  right_value: string
  note: string
  run_begin: string
  run_end: string
  tpl_id: number
  for: number
}
interface Action {
  id: number
  uic: string
  url: string
  callback: number
  before_callback_sms: number
  before_callback_mail: number
  after_callback_sms: number
  after_callback_mail: number
}

const PAGE = 50

function useError(): [string | null, (err: unknown) => void, () => void] {
  const [error, setError] = useState<string | null>(null)
  return [
    error,
    (err) => {
      if (err instanceof ApiError) setError(err.message)
      else throw err
    },
    () => setError(null),
  ]
}

export function ConfigNav(props: { path: string }) {
  const t = useT()
  const items: [string, string][] = [
    ['/config/hostgroups', t('config.hostgroups')],
    ['/config/templates', t('config.templates')],
    ['/config/expressions', t('config.expressions')],
    ['/config/nodata', t('config.nodata')],
    ['/config/teams', t('config.teams')],
  ]
  return (
    <nav class="subnav" aria-label={t('nav.config')}>
      {items.map(([href, label]) => (
        <Link key={href} href={href} current={props.path.startsWith(href)}>
          {label}
        </Link>
      ))}
    </nav>
  )
}

// --- host groups -----------------------------------------------------------------------------

export function HostGroupsPage(props: { route: Route }) {
  const t = useT()
  const q = props.route.query
  const page = Math.max(1, Number(q.get('page') ?? '1') || 1)
  const filter = q.get('q') ?? ''
  const [rows, setRows] = useState<HostGroup[] | null>(null)
  const [name, setName] = useState('')
  const [error, onError, clear] = useError()
  const [search, setSearch] = useState(filter)

  const load = useCallback(async () => {
    try {
      setRows(
        await get<HostGroup[]>(
          withParams('/api/v1/hostgroup', { q: filter || undefined, page, limit: PAGE })
        )
      )
    } catch (err) {
      onError(err)
    }
  }, [filter, page])
  useEffect(() => void load(), [load])

  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const g = await post<HostGroup>('/api/v1/hostgroup', { name: name.trim() })
      clear()
      setName('')
      navigate(`/config/hostgroups/${g.id}`)
    } catch (err) {
      onError(err)
    }
  }
  return (
    <div>
      <ConfigNav path={props.route.path} />
      <h1>{t('config.hostgroups')}</h1>
      <form class="inline-form" onSubmit={(e) => void create(e)}>
        <Field label={t('config.newGroup')} error={error ?? undefined}>
          <input
            name="grp_name"
            value={name}
            required
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </Field>
        <button type="submit">{t('common.create')}</button>
      </form>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault()
          navigate(withParams('/config/hostgroups', { q: search || undefined }))
        }}
      >
        <input
          aria-label={t('common.filter')}
          placeholder={t('common.filterRegexp')}
          value={search}
          onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
        />
        <button type="submit">{t('common.search')}</button>
      </form>
      <ul class="rows" data-testid="hostgroups">
        {rows?.map((g) => (
          <li key={g.id}>
            <Link href={`/config/hostgroups/${g.id}`}>{g.grp_name}</Link>{' '}
            <small>{g.create_user}</small>
          </li>
        ))}
      </ul>
      <Pager
        page={page}
        more={(rows?.length ?? 0) === PAGE}
        onPage={(p) =>
          navigate(withParams('/config/hostgroups', { q: filter || undefined, page: p }))
        }
      />
    </div>
  )
}

export function HostGroupPage(props: { route: Route; id: number }) {
  const t = useT()
  const [group, setGroup] = useState<HostGroup | null>(null)
  const [hosts, setHosts] = useState<Host[]>([])
  const [templates, setTemplates] = useState<Template[]>([])
  const [all, setAll] = useState<Template[]>([])
  const [add, setAdd] = useState('')
  const [bind, setBind] = useState('')
  const [error, onError, clear] = useError()
  const [shown, setShown] = useState(PAGE)

  const load = useCallback(async () => {
    try {
      const [g, tp, simple] = await Promise.all([
        get<{ hostgroup: HostGroup; hosts: Host[] }>(`/api/v1/hostgroup/${props.id}`),
        get<{ templates: Template[] }>(`/api/v1/hostgroup/${props.id}/template`),
        get<Template[]>('/api/v1/template_simple'),
      ])
      setGroup(g.hostgroup)
      setHosts(g.hosts)
      setTemplates(tp.templates ?? [])
      setAll(simple)
    } catch (err) {
      onError(err)
    }
  }, [props.id])
  useEffect(() => void load(), [load])

  const addHosts = async (e: Event) => {
    e.preventDefault()
    const names = add.split(/[\s,]+/).filter((n) => n !== '')
    if (names.length === 0) return
    try {
      await patch(`/api/v1/hostgroup/${props.id}/host`, { action: 'add', hosts: names })
      setAdd('')
      clear()
      await load()
    } catch (err) {
      onError(err)
    }
  }
  const removeHost = async (h: Host) => {
    try {
      await put('/api/v1/hostgroup/host', { hostgroup_id: props.id, host_id: h.id })
      await load()
    } catch (err) {
      onError(err)
    }
  }
  const bindTemplate = async (e: Event) => {
    e.preventDefault()
    if (bind === '') return
    try {
      await post('/api/v1/hostgroup/template', { grp_id: props.id, tpl_id: Number(bind) })
      clear()
      await load()
    } catch (err) {
      onError(err)
    }
  }
  const unbind = async (tpl: Template) => {
    try {
      await put('/api/v1/hostgroup/template', { grp_id: props.id, tpl_id: tpl.id })
      await load()
    } catch (err) {
      onError(err)
    }
  }
  const remove = async () => {
    if (group === null || !confirm(t('config.confirmDeleteGroup', { name: group.grp_name }))) return
    try {
      await del(`/api/v1/hostgroup/${props.id}`)
      navigate('/config/hostgroups')
    } catch (err) {
      onError(err)
    }
  }

  if (group === null)
    return error === null ? <p>{t('common.loading')}</p> : <p class="error">{error}</p>
  return (
    <div>
      <ConfigNav path={props.route.path} />
      <h1>
        {t('config.hostgroup')}: {group.grp_name}
      </h1>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <h2>{t('config.hosts')}</h2>
      <form class="inline-form" onSubmit={(e) => void addHosts(e)} data-testid="add-hosts">
        <Field label={t('config.addHosts')} hint={t('config.addHostsHint')}>
          <textarea
            name="hosts"
            rows={2}
            value={add}
            onInput={(e) => setAdd((e.target as HTMLTextAreaElement).value)}
          />
        </Field>
        <button type="submit">{t('common.add')}</button>
      </form>
      <table data-testid="group-hosts">
        <tbody>
          {hosts.slice(0, shown).map((h) => (
            <tr key={h.id}>
              <td>{h.hostname}</td>
              <td>{h.ip}</td>
              <td>{h.agent_version}</td>
              <td>
                <button type="button" onClick={() => void removeHost(h)}>
                  {t('common.remove')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {hosts.length > shown && (
        <button type="button" onClick={() => setShown(shown + PAGE * 4)}>
          {t('common.showMore', { count: hosts.length - shown })}
        </button>
      )}
      <h2>{t('config.templates')}</h2>
      <form class="inline-form" onSubmit={(e) => void bindTemplate(e)}>
        <select
          aria-label={t('config.bindTemplate')}
          value={bind}
          onChange={(e) => setBind((e.target as HTMLSelectElement).value)}
        >
          <option value="">{t('config.chooseTemplate')}</option>
          {all.map((tp) => (
            <option key={tp.id} value={String(tp.id)}>
              {tp.tpl_name}
            </option>
          ))}
        </select>
        <button type="submit">{t('config.bind')}</button>
      </form>
      <ul class="rows" data-testid="group-templates">
        {templates.map((tp) => (
          <li key={tp.id}>
            <Link href={`/config/templates/${tp.id}`}>{tp.tpl_name}</Link>{' '}
            <button type="button" onClick={() => void unbind(tp)}>
              {t('config.unbind')}
            </button>
          </li>
        ))}
      </ul>
      <GroupPlugins groupId={props.id} />
      <GroupAggregators groupId={props.id} />
      <p>
        <button type="button" class="danger" onClick={() => void remove()}>
          {t('config.deleteGroup')}
        </button>
      </p>
    </div>
  )
}

// --- templates -------------------------------------------------------------------------------

export function TemplatesPage(props: { route: Route }) {
  const t = useT()
  const q = props.route.query
  const page = Math.max(1, Number(q.get('page') ?? '1') || 1)
  const [rows, setRows] = useState<{ template: Template; parent_name: string }[] | null>(null)
  const [all, setAll] = useState<Template[]>([])
  const [name, setName] = useState('')
  const [parent, setParent] = useState('0')
  const [error, onError, clear] = useError()
  const load = useCallback(async () => {
    try {
      const [list, simple] = await Promise.all([
        get<{ templates: { template: Template; parent_name: string }[] }>(
          withParams('/api/v1/template', { page, limit: PAGE })
        ),
        get<Template[]>('/api/v1/template_simple'),
      ])
      setRows(list.templates)
      setAll(simple)
    } catch (err) {
      onError(err)
    }
  }, [page])
  useEffect(() => void load(), [load])
  const create = async (e: Event) => {
    e.preventDefault()
    try {
      const tp = await post<Template>('/api/v1/template', {
        name: name.trim(),
        parent_id: Number(parent),
      })
      clear()
      navigate(`/config/templates/${tp.id}`)
    } catch (err) {
      onError(err)
    }
  }
  return (
    <div>
      <ConfigNav path={props.route.path} />
      <h1>{t('config.templates')}</h1>
      <form class="inline-form" onSubmit={(e) => void create(e)}>
        <Field label={t('config.newTemplate')} error={error ?? undefined}>
          <input
            name="tpl_name"
            value={name}
            required
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field label={t('config.parent')}>
          <select value={parent} onChange={(e) => setParent((e.target as HTMLSelectElement).value)}>
            <option value="0">{t('config.noParent')}</option>
            {all.map((tp) => (
              <option key={tp.id} value={String(tp.id)}>
                {tp.tpl_name}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit">{t('common.create')}</button>
      </form>
      <ul class="rows" data-testid="templates">
        {rows?.map((r) => (
          <li key={r.template.id}>
            <Link href={`/config/templates/${r.template.id}`}>{r.template.tpl_name}</Link>{' '}
            {r.parent_name !== '' && <small>← {r.parent_name}</small>}{' '}
            <small>{r.template.create_user}</small>
          </li>
        ))}
      </ul>
      <Pager
        page={page}
        more={(rows?.length ?? 0) === PAGE}
        onPage={(p) => navigate(withParams('/config/templates', { page: p }))}
      />
    </div>
  )
}

export function TemplatePage(props: { route: Route; id: number }) {
  const t = useT()
  const [data, setData] = useState<{
    template: Template
    stratges: Strategy[]
    action: Action
    parent_name: string
  } | null>(null)
  const [groups, setGroups] = useState<HostGroup[]>([])
  const [editing, setEditing] = useState<Strategy | 'new' | null>(null)
  const [error, onError] = useError()
  const load = useCallback(async () => {
    try {
      const [d, g] = await Promise.all([
        get<{ template: Template; stratges: Strategy[]; action: Action; parent_name: string }>(
          `/api/v1/template/${props.id}`
        ),
        get<{ hostgroups: HostGroup[] }>(`/api/v1/template/${props.id}/hostgroup`),
      ])
      setData(d)
      setGroups(g.hostgroups ?? [])
    } catch (err) {
      onError(err)
    }
  }, [props.id])
  useEffect(() => void load(), [load])
  const removeStrategy = async (s: Strategy) => {
    if (!confirm(t('config.confirmDeleteStrategy', { metric: s.metric }))) return
    try {
      await del(`/api/v1/strategy/${s.id}`)
      await load()
    } catch (err) {
      onError(err)
    }
  }
  const remove = async () => {
    if (
      data === null ||
      !confirm(t('config.confirmDeleteTemplate', { name: data.template.tpl_name }))
    )
      return
    try {
      await del(`/api/v1/template/${props.id}`)
      navigate('/config/templates')
    } catch (err) {
      onError(err)
    }
  }
  if (data === null)
    return error === null ? <p>{t('common.loading')}</p> : <p class="error">{error}</p>
  return (
    <div>
      <ConfigNav path={props.route.path} />
      <h1>
        {t('config.template')}: {data.template.tpl_name}
      </h1>
      {data.parent_name !== '' && (
        <p>
          {t('config.parent')}:{' '}
          <Link href={`/config/templates/${data.template.parent_id}`}>{data.parent_name}</Link>
        </p>
      )}
      <p>
        {t('config.boundTo')}:{' '}
        {groups.length === 0
          ? t('config.noGroups')
          : groups.map((g, i) => (
              <span key={g.id}>
                {i > 0 && ', '}
                <Link href={`/config/hostgroups/${g.id}`}>{g.grp_name}</Link>
              </span>
            ))}
      </p>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <h2>{t('config.strategies')}</h2>
      <table data-testid="strategies">
        <thead>
          <tr>
            <th>{t('strategy.metric')}</th>
            <th>{t('strategy.tags')}</th>
            <th>{t('strategy.condition')}</th>
            <th>{t('strategy.max_step')}</th>
            <th>{t('strategy.priority')}</th>
            <th>{t('strategy.note')}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data.stratges.map((s) => (
            <tr key={s.id}>
              <td>{s.metric}</td>
              <td>{s.tags}</td>
              <td>
                {s.func} {s.op} {s.right_value}
              </td>
              <td>{s.max_step}</td>
              <td>{s.priority}</td>
              <td>{s.note}</td>
              <td>
                <button type="button" onClick={() => setEditing(s)}>
                  {t('common.edit')}
                </button>{' '}
                <button type="button" onClick={() => void removeStrategy(s)}>
                  {t('common.delete')}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {editing === null ? (
        <button type="button" onClick={() => setEditing('new')}>
          {t('config.addStrategy')}
        </button>
      ) : (
        <StrategyEditor
          tplId={props.id}
          strategy={editing === 'new' ? undefined : editing}
          onDone={() => {
            setEditing(null)
            void load()
          }}
        />
      )}
      <ActionEditor tplId={props.id} action={data.action} onSaved={load} />
      <p>
        <button type="button" class="danger" onClick={() => void remove()}>
          {t('config.deleteTemplate')}
        </button>
      </p>
    </div>
  )
}

function formOf(s?: Partial<Strategy>): StrategyForm {
  return {
    metric: s?.metric ?? '',
    tags: s?.tags ?? '',
    func: s?.func ?? 'all(#3)',
    op: s?.op ?? '>',
    right_value: s?.right_value ?? '',
    max_step: String(s?.max_step ?? 3),
    priority: String(s?.priority ?? 2),
    note: s?.note ?? '',
    run_begin: s?.run_begin ?? '',
    run_end: s?.run_end ?? '',
    for: String(s?.for ?? 0),
  }
}

function errorText(t: Translate, e: StrategyErrors[keyof StrategyForm]): string | undefined {
  return e === undefined
    ? undefined
    : t(`strategy.error.${e.key}` as 'strategy.error.required', e.params)
}

/** The strategy form, checked as the user types; saved to `tplId`. */
export function StrategyEditor(props: {
  tplId: number
  strategy?: Strategy
  initial?: Partial<Strategy>
  onDone: (saved: boolean) => void
}) {
  const t = useT()
  const [form, setForm] = useState<StrategyForm>(formOf(props.strategy ?? props.initial))
  const [touched, setTouched] = useState<Set<string>>(new Set())
  const [serverErrors, setServerErrors] = useState<StrategyErrors>({})
  const [formError, setFormError] = useState<string | null>(null)
  const errors = useMemo(() => checkStrategy(form), [form])

  const shown = (name: keyof StrategyForm): string | undefined => {
    const server = serverErrors[name]
    if (server !== undefined) return server.params?.message as string
    return touched.has(name) ? errorText(t, errors[name]) : undefined
  }
  const bind = (name: keyof StrategyForm) => ({
    name,
    value: form[name],
    'aria-invalid': shown(name) !== undefined,
    onInput: (e: Event) => {
      setForm({ ...form, [name]: (e.target as HTMLInputElement).value })
      setTouched(new Set(touched).add(name))
      setServerErrors({ ...serverErrors, [name]: undefined })
    },
  })

  const submit = async (e: Event) => {
    e.preventDefault()
    setTouched(new Set(Object.keys(form)))
    if (Object.keys(errors).length > 0) return
    const body = strategyBody(form, props.tplId)
    try {
      if (props.strategy === undefined) await post('/api/v1/strategy', body)
      else await put('/api/v1/strategy', { ...body, id: props.strategy.id })
      props.onDone(true)
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      const { byField, other } = splitFieldErrors(err.message, Object.keys(form))
      setServerErrors(
        Object.fromEntries(
          Object.entries(byField).map(([f, message]) => [f, { key: 'server', params: { message } }])
        )
      )
      setFormError(other.length > 0 ? other.join('; ') : null)
    }
  }

  return (
    <form
      class="grid-form strategy-form"
      onSubmit={(e) => void submit(e)}
      noValidate
      data-testid="strategy-form"
    >
      <h3>{props.strategy === undefined ? t('config.newStrategy') : t('config.editStrategy')}</h3>
      {formError !== null && (
        <p class="error" role="alert">
          {formError}
        </p>
      )}
      <Field label={t('strategy.metric')} error={shown('metric')}>
        <input {...bind('metric')} />
      </Field>
      <Field label={t('strategy.tags')} error={shown('tags')} hint="k=v,k2=v2">
        <input {...bind('tags')} />
      </Field>
      <Field label={t('strategy.func')} error={shown('func')} hint={t('strategy.funcHint')}>
        <input {...bind('func')} />
      </Field>
      <Field label={t('strategy.op')} error={shown('op')}>
        <select {...bind('op')} onChange={bind('op').onInput}>
          {OPERATORS.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('strategy.right_value')} error={shown('right_value')}>
        <input {...bind('right_value')} inputMode="decimal" />
      </Field>
      <Field label={t('strategy.max_step')} error={shown('max_step')}>
        <input {...bind('max_step')} inputMode="numeric" />
      </Field>
      <Field label={t('strategy.priority')} error={shown('priority')} hint="0–6">
        <input {...bind('priority')} inputMode="numeric" />
      </Field>
      <Field label={t('strategy.for')} error={shown('for')} hint={t('strategy.forHint')}>
        <input {...bind('for')} inputMode="numeric" />
      </Field>
      <Field label={t('strategy.run_begin')} error={shown('run_begin')} hint="HH:MM">
        <input {...bind('run_begin')} />
      </Field>
      <Field label={t('strategy.run_end')} error={shown('run_end')} hint="HH:MM">
        <input {...bind('run_end')} />
      </Field>
      <Field label={t('strategy.note')} error={shown('note')}>
        <input {...bind('note')} />
      </Field>
      <div class="form-buttons">
        <button type="submit">{t('common.save')}</button>
        <button type="button" onClick={() => props.onDone(false)}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  )
}

function ActionEditor(props: { tplId: number; action: Action; onSaved: () => Promise<void> }) {
  const t = useT()
  const [uic, setUic] = useState(props.action.uic)
  const [url, setUrl] = useState(props.action.url)
  const [callback, setCallback] = useState(props.action.callback === 1)
  const [error, setError] = useState<string | null>(null)
  const [saved, setSaved] = useState(false)
  const save = async (e: Event) => {
    e.preventDefault()
    const body = {
      uic,
      url,
      callback: callback ? 1 : 0,
      before_callback_sms: props.action.before_callback_sms,
      before_callback_mail: props.action.before_callback_mail,
      after_callback_sms: props.action.after_callback_sms,
      after_callback_mail: props.action.after_callback_mail,
    }
    try {
      if (props.action.id === 0)
        await post('/api/v1/template/action', { ...body, tpl_id: props.tplId })
      else await put('/api/v1/template/action', { ...body, id: props.action.id })
      setError(null)
      setSaved(true)
      await props.onSaved()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  return (
    <form class="grid-form" onSubmit={(e) => void save(e)}>
      <h2>{t('config.action')}</h2>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <Field
        label={t('config.teams')}
        hint={t('config.teamsHint')}
        error={error?.startsWith('body.uic') ? error : undefined}
      >
        <input value={uic} onInput={(e) => setUic((e.target as HTMLInputElement).value)} />
      </Field>
      <Field
        label={t('config.callbackUrl')}
        error={error?.startsWith('body.url') ? error : undefined}
      >
        <input value={url} onInput={(e) => setUrl((e.target as HTMLInputElement).value)} />
      </Field>
      <label class="check">
        <input
          type="checkbox"
          checked={callback}
          onChange={(e) => setCallback((e.target as HTMLInputElement).checked)}
        />{' '}
        {t('config.callback')}
      </label>
      <div class="form-buttons">
        <button type="submit">{t('common.save')}</button>
        {saved && <span>{t('common.saved')}</span>}
      </div>
    </form>
  )
}

/**
 * "Alert on this": a strategy for a chart's counter with the value under the cursor as threshold,
 * saved to a template the user picks (or a new one).
 */
export function NewStrategyPage(props: { route: Route }) {
  const t = useT()
  const q = props.route.query
  const [templates, setTemplates] = useState<Template[] | null>(null)
  const [tpl, setTpl] = useState(q.get('tpl') ?? '')
  const [newName, setNewName] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [created, setCreated] = useState<number | null>(null)
  useEffect(() => {
    get<Template[]>('/api/v1/template_simple')
      .then(setTemplates)
      .catch((err: unknown) => err instanceof ApiError && setError(err.message))
  }, [])
  const endpoint = q.get('endpoint') ?? ''
  const initial: Partial<Strategy> = {
    metric: q.get('metric') ?? '',
    tags: q.get('tags') ?? '',
    right_value: q.get('value') ?? '',
    note: endpoint === '' ? '' : t('config.noteFromChart', { endpoint }).slice(0, 128),
  }
  const createTemplate = async (e: Event) => {
    e.preventDefault()
    try {
      const tp = await post<Template>('/api/v1/template', { name: newName.trim(), parent_id: 0 })
      setTemplates([...(templates ?? []), tp])
      setTpl(String(tp.id))
      setError(null)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  return (
    <div>
      <ConfigNav path="/config/templates" />
      <h1>{t('config.alertOn', { endpoint: endpoint || '—' })}</h1>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="inline-form">
        <Field label={t('config.template')}>
          <select
            value={tpl}
            onChange={(e) => setTpl((e.target as HTMLSelectElement).value)}
            name="tpl"
          >
            <option value="">{t('config.chooseTemplate')}</option>
            {(templates ?? []).map((tp) => (
              <option key={tp.id} value={String(tp.id)}>
                {tp.tpl_name}
              </option>
            ))}
          </select>
        </Field>
        <form class="inline-form" onSubmit={(e) => void createTemplate(e)}>
          <Field label={t('config.orNewTemplate')}>
            <input
              value={newName}
              onInput={(e) => setNewName((e.target as HTMLInputElement).value)}
            />
          </Field>
          <button type="submit">{t('common.create')}</button>
        </form>
      </div>
      <p class="hint">{t('config.strategyHostsHint')}</p>
      {created !== null ? (
        <p role="status">
          {t('config.strategySaved')}{' '}
          <Link href={`/config/templates/${created}`}>{t('config.openTemplate')}</Link>
        </p>
      ) : tpl === '' ? null : (
        <StrategyEditor
          key={tpl}
          tplId={Number(tpl)}
          initial={initial}
          onDone={(saved) => (saved ? setCreated(Number(tpl)) : history.back())}
        />
      )}
    </div>
  )
}
