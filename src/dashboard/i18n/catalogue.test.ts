// Every language says everything, with the same placeholders; components show no text of their own.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'node:test'
import ts from 'typescript'
import { CATALOGUES, pickLanguage, translate } from './index.js'

// Compiled to dist/src/dashboard/i18n/; the components' sources are in src/dashboard/ui.
const UI = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  '..',
  'src',
  'dashboard',
  'ui'
)

function tsxFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? tsxFiles(path) : name.endsWith('.tsx') ? [path] : []
  })
}

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

describe('the catalogues', () => {
  it('hold the same keys and placeholders in every language, none empty', () => {
    const en = CATALOGUES.en as Record<string, string>
    for (const [lang, cat] of Object.entries(CATALOGUES) as [string, Record<string, string>][]) {
      assert.deepEqual(Object.keys(cat).sort(), Object.keys(en).sort(), lang)
      for (const [key, text] of Object.entries(cat)) {
        assert.notEqual(text.trim(), '', `${lang} ${key}`)
        assert.deepEqual(placeholders(text), placeholders(en[key]), `${lang} ${key}`)
      }
    }
  })

  it('picks the browser language and fills placeholders', () => {
    assert.equal(pickLanguage(['zh-CN', 'en']), 'zh')
    assert.equal(pickLanguage(['zh-TW']), 'zh')
    assert.equal(pickLanguage(['fr-FR', 'en-GB']), 'en')
    assert.equal(pickLanguage(['de']), 'en')
    assert.equal(translate('en', 'common.page', { page: 3 }), 'page 3')
    assert.equal(translate('zh', 'common.page', { page: 3 }), '第 3 页')
    assert.equal(translate('en', 'no.such.key'), 'no.such.key')
  })

  it('is where every text of a component comes from (no words written in JSX)', () => {
    const files = tsxFiles(UI)
    assert.ok(files.length >= 10, `found ${files.length} components`)
    const problems: string[] = []
    for (const file of files) {
      const name = file.slice(UI.length + 1)
      const source = ts.createSourceFile(
        name,
        readFileSync(file, 'utf8'),
        ts.ScriptTarget.Latest,
        true,
        ts.ScriptKind.TSX
      )
      const visit = (node: ts.Node) => {
        // Text between tags: a word there is hard-coded.
        if (ts.isJsxText(node)) {
          const words = node.text.trim()
          if (/[A-Za-z\u4e00-\u9fff]{2,}/.test(words) && words !== 'Peregrine')
            problems.push(`${name}: "${words}"`)
        }
        // Attributes people read (labels, placeholders, titles) must come from the catalogue too.
        if (
          ts.isJsxAttribute(node) &&
          ['aria-label', 'placeholder', 'title', 'alt'].includes(node.name.getText(source)) &&
          node.initializer !== undefined &&
          ts.isStringLiteral(node.initializer) &&
          /[A-Za-z]{2,}/.test(node.initializer.text) &&
          // An example of syntax ("sys/ntp", "k=v,k2=v2") is the same in every language.
          !/[/=$#(]/.test(node.initializer.text)
        ) {
          problems.push(`${name}: ${node.name.getText(source)}="${node.initializer.text}"`)
        }
        ts.forEachChild(node, visit)
      }
      visit(source)
    }
    assert.deepEqual(problems, [])
  })
})
