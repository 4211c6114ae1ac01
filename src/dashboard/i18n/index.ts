// The dashboard's words: one catalogue per language, every string a component shows comes from here.
import { en, type MessageKey } from './en.js'
import { zh } from './zh.js'

export type { MessageKey }
export type Language = 'en' | 'zh'
export const LANGUAGES: readonly Language[] = ['en', 'zh']
export const CATALOGUES: Record<Language, Record<MessageKey, string>> = { en, zh }

/** The language of the browser's first preference we have, else English. */
export function pickLanguage(preferences: readonly string[]): Language {
  for (const p of preferences) {
    const base = p.toLowerCase().split('-')[0]
    if (base === 'zh') return 'zh'
    if (base === 'en') return 'en'
  }
  return 'en'
}

export type Params = Record<string, string | number>

/** A message with its `{name}` placeholders filled; a key missing from the catalogue shows as itself. */
export function translate(lang: Language, key: string, params?: Params): string {
  const text = (CATALOGUES[lang] as Record<string, string>)[key] ?? key
  if (params === undefined) return text
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    params[name] === undefined ? whole : String(params[name])
  )
}
