// The app's pages, by path pattern (`:id` a number). The api answers index.html at exactly these
// (src/api/web-ui.ts keeps the same list; test/dashboard-pages.test.ts checks they agree), and the
// app draws the one a URL matches.

export const PAGES = [
  '/',
  '/login',
  '/charts',
  '/explore',
  '/alarms',
  '/alarms/case',
  '/alarms/silences',
  '/config',
  '/config/hostgroups',
  '/config/hostgroups/:id',
  '/config/templates',
  '/config/templates/:id',
  '/config/strategy/new',
  '/config/teams',
  '/config/expressions',
  '/config/nodata',
  '/screens',
  '/screens/:id',
  '/hosts',
  '/account',
] as const

export type Page = (typeof PAGES)[number]

/** The page a path shows and its `:id`, or undefined for no page. A trailing slash is ignored. */
export function matchPage(path: string): { page: Page; id?: number } | undefined {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path
  for (const page of PAGES) {
    if (!page.endsWith('/:id')) {
      if (p === page) return { page }
      continue
    }
    const prefix = page.slice(0, -':id'.length)
    if (p.startsWith(prefix) && /^[1-9]\d{0,9}$/.test(p.slice(prefix.length))) {
      return { page, id: Number(p.slice(prefix.length)) }
    }
  }
  return undefined
}
