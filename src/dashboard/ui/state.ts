// The app's shared state: the session, the language, the route and whether the API answers. Small
// stores with subscribe, read in components through useStore.
import { useEffect, useState } from 'preact/hooks'
import {
  LANGUAGES,
  pickLanguage,
  translate,
  type Language,
  type MessageKey,
  type Params,
} from '../i18n/index.js'

export class Store<T> {
  #value: T
  #listeners = new Set<(v: T) => void>()
  constructor(value: T) {
    this.#value = value
  }
  get(): T {
    return this.#value
  }
  set(value: T): void {
    if (Object.is(value, this.#value)) return
    this.#value = value
    for (const l of this.#listeners) l(value)
  }
  subscribe(listener: (v: T) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}

export function useStore<T>(store: Store<T>): T {
  const [value, setValue] = useState(store.get())
  useEffect(() => {
    setValue(store.get())
    return store.subscribe(setValue)
  }, [store])
  return value
}

function readLocal(key: string): string | null {
  try {
    return localStorage.getItem(key)
  } catch {
    return null
  }
}

function writeLocal(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key)
    else localStorage.setItem(key, value)
  } catch {
    // Private windows may refuse storage: the session then lasts as long as the page.
  }
}

// --- session -----------------------------------------------------------------------------------

export interface Session {
  name: string
  sig: string
  admin: boolean
}

const SESSION_KEY = 'peregrine.session'

function loadSession(): Session | null {
  const text = readLocal(SESSION_KEY)
  if (text === null) return null
  try {
    const s = JSON.parse(text) as Partial<Session>
    if (typeof s.name === 'string' && typeof s.sig === 'string') {
      return { name: s.name, sig: s.sig, admin: s.admin === true }
    }
  } catch {
    // A damaged entry is dropped: the user logs in again.
  }
  return null
}

export const session = new Store<Session | null>(loadSession())
session.subscribe((s) => writeLocal(SESSION_KEY, s === null ? null : JSON.stringify(s)))

// --- language ----------------------------------------------------------------------------------

const LANG_KEY = 'peregrine.lang'
const saved = readLocal(LANG_KEY)
export const language = new Store<Language>(
  saved !== null && (LANGUAGES as readonly string[]).includes(saved)
    ? (saved as Language)
    : pickLanguage(navigator.languages ?? [navigator.language])
)
language.subscribe((l) => {
  writeLocal(LANG_KEY, l)
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en'
})
document.documentElement.lang = language.get() === 'zh' ? 'zh-CN' : 'en'

export type Translate = (key: MessageKey, params?: Params) => string

export function useT(): Translate {
  const lang = useStore(language)
  return (key, params) => translate(lang, key, params)
}

/** For code outside components (document titles, confirm dialogs). */
export function t(key: MessageKey, params?: Params): string {
  return translate(language.get(), key, params)
}

// --- route -------------------------------------------------------------------------------------

export interface Route {
  path: string
  query: URLSearchParams
}

function currentRoute(): Route {
  return { path: location.pathname, query: new URLSearchParams(location.search) }
}

export const route = new Store<Route>(currentRoute())
addEventListener('popstate', () => route.set(currentRoute()))

/** Goes to `url` (path and query) without a reload; `replace` for changes that are not a new page. */
export function navigate(url: string, replace = false): void {
  if (url === location.pathname + location.search) return
  if (replace) history.replaceState(null, '', url)
  else history.pushState(null, '', url)
  route.set(currentRoute())
}

/** The current URL with some query fields set (undefined or '' removes one). */
export function withQuery(changes: Record<string, string | undefined>): string {
  const q = new URLSearchParams(location.search)
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') q.delete(k)
    else q.set(k, v)
  }
  const s = q.toString()
  return location.pathname + (s === '' ? '' : `?${s}`)
}

// --- API health ----------------------------------------------------------------------------------

/** Set while the API does not answer (a network error or a 502/503/504): the banner shows. */
export const apiDown = new Store<string | null>(null)

/** A time (Unix ms) in the chosen language's way of writing dates. */
export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString(language.get() === 'zh' ? 'zh-CN' : 'en')
}
