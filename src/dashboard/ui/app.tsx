// The app's frame: the navigation, the language switch, the banner shown while the API does not
// answer, and the page the URL names. Without a session every page but login goes to login.
import { useEffect } from 'preact/hooks'
import { LANGUAGES } from '../i18n/index.js'
import { get } from './api.js'
import { Link } from './components/link.js'
import { AccountPage } from './pages/account.js'
import { AlarmsPage, CasePage, SilencesPage } from './pages/alarms.js'
import { ChartsPage } from './pages/charts.js'
import {
  HostGroupPage,
  HostGroupsPage,
  NewStrategyPage,
  TemplatePage,
  TemplatesPage,
} from './pages/config.js'
import { ExpressionsPage, NodataPage, TeamsPage } from './pages/config-more.js'
import { ExplorePage } from './pages/explore.js'
import { HostsPage } from './pages/hosts.js'
import { ScreenPage, ScreensPage } from './pages/screens.js'
import { LoginPage } from './pages/login.js'
import { apiDown, language, navigate, route, session, useStore, useT, type Route } from './state.js'

function page(r: Route) {
  const p = r.path.replace(/\/+$/, '') || '/'
  let m: RegExpExecArray | null
  if (p === '/' || p === '/charts') return <ChartsPage route={r} />
  if (p === '/explore') return <ExplorePage route={r} />
  if (p === '/alarms') return <AlarmsPage route={r} />
  if (p === '/alarms/case') return <CasePage route={r} />
  if (p === '/alarms/silences') return <SilencesPage />
  if (p === '/config' || p === '/config/hostgroups') return <HostGroupsPage route={r} />
  if ((m = /^\/config\/hostgroups\/(\d+)$/.exec(p)) !== null)
    return <HostGroupPage key={m[1]} route={r} id={Number(m[1])} />
  if (p === '/config/templates') return <TemplatesPage route={r} />
  if ((m = /^\/config\/templates\/(\d+)$/.exec(p)) !== null)
    return <TemplatePage key={m[1]} route={r} id={Number(m[1])} />
  if (p === '/config/strategy/new') return <NewStrategyPage route={r} />
  if (p === '/config/teams') return <TeamsPage path={p} />
  if (p === '/config/expressions') return <ExpressionsPage path={p} />
  if (p === '/config/nodata') return <NodataPage path={p} />
  if (p === '/screens') return <ScreensPage />
  if ((m = /^\/screens\/(\d+)$/.exec(p)) !== null)
    return <ScreenPage key={m[1]} route={r} id={Number(m[1])} />
  if (p === '/hosts') return <HostsPage route={r} />
  if (p === '/account') return <AccountPage />
  return <NotFound />
}

function NotFound() {
  const t = useT()
  return (
    <p>
      {t('app.notFound')} <Link href="/">{t('nav.charts')}</Link>
    </p>
  )
}

export function App() {
  const t = useT()
  const r = useStore(route)
  const s = useStore(session)
  const down = useStore(apiDown)
  const lang = useStore(language)

  const onLogin = r.path === '/login'
  useEffect(() => {
    if (s === null && !onLogin)
      navigate(
        `/login?next=${encodeURIComponent(r.path + r.query.toString().replace(/^(.)/, '?$1'))}`,
        true
      )
  }, [s, onLogin])
  useEffect(() => {
    document.title = `${t(titleKey(r.path))} · Peregrine`
  }, [r.path, lang])

  const logout = async () => {
    try {
      await get('/api/v1/user/logout', { retry: false })
    } finally {
      session.set(null)
      navigate('/login', true)
    }
  }

  const nav: [string, string][] = [
    ['/charts', t('nav.charts')],
    ['/explore', t('nav.explore')],
    ['/screens', t('nav.screens')],
    ['/alarms', t('nav.alarms')],
    ['/hosts', t('nav.hosts')],
    ['/config/hostgroups', t('nav.config')],
  ]
  return (
    <>
      {down !== null && (
        <div class="banner" role="alert" data-testid="api-down">
          {t('app.apiDown', { detail: down })}
        </div>
      )}
      <header class="top">
        <Link href="/" class="brand">
          Peregrine
        </Link>
        {s !== null && !onLogin && (
          <nav aria-label={t('nav.main')}>
            {nav.map(([href, label]) => (
              <Link
                key={href}
                href={href}
                current={
                  r.path.startsWith(href.split('/').slice(0, 2).join('/')) ||
                  (href === '/charts' && r.path === '/')
                }
              >
                {label}
              </Link>
            ))}
          </nav>
        )}
        <span class="spacer" />
        <select
          aria-label={t('app.language')}
          value={lang}
          onChange={(e) => language.set((e.target as HTMLSelectElement).value as typeof lang)}
          data-testid="language"
        >
          {LANGUAGES.map((l) => (
            <option key={l} value={l}>
              {l === 'en' ? 'English' : '中文'}
            </option>
          ))}
        </select>
        {s !== null && !onLogin && (
          <>
            <Link href="/account">{s.name}</Link>
            <button type="button" onClick={() => void logout()}>
              {t('nav.logout')}
            </button>
          </>
        )}
      </header>
      <main>{onLogin ? <LoginPage route={r} /> : s === null ? null : page(r)}</main>
    </>
  )
}

function titleKey(path: string) {
  if (path.startsWith('/explore')) return 'nav.explore' as const
  if (path.startsWith('/alarms')) return 'nav.alarms' as const
  if (path.startsWith('/screens')) return 'nav.screens' as const
  if (path.startsWith('/hosts')) return 'nav.hosts' as const
  if (path.startsWith('/config')) return 'nav.config' as const
  if (path.startsWith('/account')) return 'account.title' as const
  if (path.startsWith('/login')) return 'login.submit' as const
  return 'nav.charts' as const
}
