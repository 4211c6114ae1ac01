// A link that changes the page without a reload (a plain click); other clicks (new tab) as usual.
import type { ComponentChildren } from 'preact'
import { navigate } from '../state.js'

export function Link(props: {
  href: string
  children: ComponentChildren
  class?: string
  current?: boolean
}) {
  return (
    <a
      href={props.href}
      class={props.class}
      aria-current={props.current ? 'page' : undefined}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
        e.preventDefault()
        navigate(props.href)
      }}
    >
      {props.children}
    </a>
  )
}
