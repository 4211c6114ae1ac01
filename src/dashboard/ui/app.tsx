// The app's frame: the navigation, the language switch, the banner shown while the API does not
// answer, and the page the URL names. Without a session every page but login goes to login.
import { useEffect } from 'preact/hooks'
import { LANGUAGES } from '../i18n/index.js'
import { matchPage } from '../lib/pages.js'
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
  const m = matchPage(r.path)
  if (m === undefined) return <NotFound />
  const id = m.id ?? 0
  switch (m.page) {
    case '/':
    case '/charts':
      return <ChartsPage route={r} />
    case '/login':
      return <LoginPage route={r} />
    case '/explore':
      return <ExplorePage route={r} />
    case '/alarms':
      return <AlarmsPage route={r} />
    case '/alarms/case':
      return <CasePage route={r} />
    case '/alarms/silences':
      return <SilencesPage />
    case '/config':
    case '/config/hostgroups':
      return <HostGroupsPage route={r} />
    case '/config/hostgroups/:id':
      return <HostGroupPage key={id} route={r} id={id} />
    case '/config/templates':
      return <TemplatesPage route={r} />
    case '/config/templates/:id':
      return <TemplatePage key={id} route={r} id={id} />
    case '/config/strategy/new':
      return <NewStrategyPage route={r} />
    case '/config/teams':
      return <TeamsPage path={r.path} />
    case '/config/expressions':
      return <ExpressionsPage path={r.path} />
    case '/config/nodata':
      return <NodataPage path={r.path} />
    case '/screens':
      return <ScreensPage />
    case '/screens/:id':
      return <ScreenPage key={id} route={r} id={id} />
    case '/hosts':
      return <HostsPage route={r} />
    case '/account':
      return <AccountPage />
  }
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
