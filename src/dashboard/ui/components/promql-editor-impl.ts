// CodeMirror with Prometheus's PromQL language: highlighting, linting, and completion of metric
// names, label names and values from Peregrine's own /api/v1 (labels, series, metadata). Loaded
// only when the Explore page opens, so the first page does not carry the editor.
import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
} from '@codemirror/autocomplete'
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands'
import { bracketMatching, syntaxHighlighting, defaultHighlightStyle } from '@codemirror/language'
import { EditorState } from '@codemirror/state'
import { EditorView, keymap, placeholder } from '@codemirror/view'
import {
  newCompleteStrategy,
  PromQLExtension,
  type CompleteStrategy,
} from '@prometheus-io/codemirror-promql'
import { bareMetricName } from '../../lib/links.js'

export interface EditorHandle {
  view: EditorView
  destroy(): void
}

export function createEditor(
  parent: HTMLElement,
  options: {
    doc: string
    placeholder: string
    label: string
    headers: () => Record<string, string>
    onChange: (text: string) => void
    onRun: () => void
  }
): EditorHandle {
  const remote = newCompleteStrategy({
    remote: {
      url: '',
      apiPrefix: '/api/v1',
      httpMethod: 'GET',
      cache: { initialMetricList: [] },
      // Every completion request carries the session's Apitoken.
      fetchFn: (input, init) => {
        const headers = new Headers(init?.headers)
        for (const [k, v] of Object.entries(options.headers())) headers.set(k, v)
        return fetch(input, { ...init, headers })
      },
    },
  })
  // Falcon's metric names hold dots: a name completed outside quotes is inserted in the escaped form
  // the engine reads back (cpu.idle → cpu_idle), so the query stays valid PromQL.
  const strategy: CompleteStrategy = {
    async promQL(context) {
      const result = await remote.promQL(context)
      if (result === null || context.state.sliceDoc(result.from - 1, result.from) === '"')
        return result
      return {
        ...result,
        options: result.options.map((o) =>
          o.type === 'constant' && bareMetricName(o.label) !== o.label
            ? { ...o, apply: bareMetricName(o.label) }
            : o
        ),
      }
    },
    destroy: () => remote.destroy?.(),
  }
  const promql = new PromQLExtension().setComplete({ completeStrategy: strategy })
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: options.doc,
      extensions: [
        history(),
        closeBrackets(),
        bracketMatching(),
        autocompletion(),
        syntaxHighlighting(defaultHighlightStyle),
        placeholder(options.placeholder),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': options.label }),
        keymap.of([
          // Enter runs the query (Shift+Enter for a new line), as in Prometheus's own UI.
          { key: 'Enter', run: () => (options.onRun(), true) },
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...historyKeymap,
          ...completionKeymap,
        ]),
        promql.asExtension(),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) options.onChange(u.state.doc.toString())
        }),
      ],
    }),
  })
  return { view, destroy: () => view.destroy() }
}
