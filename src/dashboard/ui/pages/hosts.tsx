// Hosts: the agents that reported to hbs (version, last heartbeat, plugins from their groups), and
// their maintenance windows, set and ended from here.
import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError, get, post, request, withParams } from '../api.js'
import { Link } from '../components/link.js'
import { formatTime, navigate, useT, type Route } from '../state.js'
import { Pager } from './charts.js'

interface HostRow {
  id: number
  hostname: string
  ip: string
  agent_version: string
  plugin_version: string
  maintain_begin: number
  maintain_end: number
  update_at: string
  hostgroups: { id: number; grp_name: string }[]
  plugins: string[]
}

const PAGE = 50

/** Whether a host is in maintenance at `now` (seconds), as judge reads the window. */
export function inMaintenance(
  h: { maintain_begin: number; maintain_end: number },
  now: number
): boolean {
  return h.maintain_begin > 0 && h.maintain_begin <= now && now <= h.maintain_end
}

export function HostsPage(props: { route: Route }) {
  const t = useT()
  const q = props.route.query
  const filter = q.get('q') ?? ''
  const page = Math.max(1, Number(q.get('page') ?? '1') || 1)
  const [search, setSearch] = useState(filter)
  const [rows, setRows] = useState<HostRow[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [hours, setHours] = useState('2')
  const load = useCallback(async () => {
    try {
      setRows(
        await get<HostRow[]>(
          withParams('/api/v1/host', { q: filter || undefined, page, limit: PAGE })
        )
      )
      setError(null)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }, [filter, page])
  useEffect(() => void load(), [load])
  const now = Math.floor(Date.now() / 1000)
  const maintain = async (h: HostRow, on: boolean) => {
    try {
      if (on) {
        const span = Number(hours)
        if (!(span > 0)) return setError(t('alarms.silenceHours'))
        await post('/api/v1/host/maintain', {
          hosts: [h.hostname],
          maintain_begin: now,
          maintain_end: Math.floor(now + span * 3600),
        })
      } else {
        await request('DELETE', '/api/v1/host/maintain', { hosts: [h.hostname] })
      }
      await load()
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    }
  }
  return (
    <div>
      <h1>{t('hosts.title')}</h1>
      <form
        class="inline-form"
        onSubmit={(e) => {
          e.preventDefault()
          navigate(withParams('/hosts', { q: search || undefined }))
        }}
      >
        <input
          aria-label={t('common.filter')}
          placeholder={t('common.filterRegexp')}
          value={search}
          onInput={(e) => setSearch((e.target as HTMLInputElement).value)}
        />
        <button type="submit">{t('common.search')}</button>
        <label>
          {t('hosts.maintainHours')}{' '}
          <input
            size={4}
            inputMode="decimal"
            value={hours}
            onInput={(e) => setHours((e.target as HTMLInputElement).value)}
          />
        </label>
      </form>
      {error !== null && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table data-testid="hosts">
        <thead>
          <tr>
            <th>{t('hosts.host')}</th>
            <th>{t('hosts.ip')}</th>
            <th>{t('hosts.agent')}</th>
            <th>{t('hosts.lastReport')}</th>
            <th>{t('config.hostgroups')}</th>
            <th>{t('config.plugins')}</th>
            <th>{t('hosts.maintenance')}</th>
          </tr>
        </thead>
        <tbody>
          {(rows ?? []).map((h) => {
            const maintained = inMaintenance(h, now)
            return (
              <tr key={h.id}>
                <td>
                  <Link href={withParams('/charts', { e: h.hostname })}>{h.hostname}</Link>
                </td>
                <td>{h.ip}</td>
                <td>
                  {h.agent_version}
                  {h.plugin_version !== '' && ` (${h.plugin_version})`}
                </td>
                <td>
                  {h.agent_version === '' ? t('hosts.never') : formatTime(Date.parse(h.update_at))}
                </td>
                <td>
                  {h.hostgroups.map((g, i) => (
                    <span key={g.id}>
                      {i > 0 && ', '}
                      <Link href={`/config/hostgroups/${g.id}`}>{g.grp_name}</Link>
                    </span>
                  ))}
                </td>
                <td>{h.plugins.join(', ')}</td>
                <td>
                  {maintained && (
                    <span>
                      {t('hosts.until', {
                        time: formatTime(h.maintain_end * 1000),
                      })}{' '}
                    </span>
                  )}
                  <button type="button" onClick={() => void maintain(h, !maintained)}>
                    {maintained ? t('hosts.endMaintenance') : t('hosts.startMaintenance')}
                  </button>
                </td>
              </tr>
            )
          })}
        </tbody>
      </table>
      <Pager
        page={page}
        more={(rows?.length ?? 0) === PAGE}
        onPage={(p) => navigate(withParams('/hosts', { q: filter || undefined, page: p }))}
      />
    </div>
  )
}
