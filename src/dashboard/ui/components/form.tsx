// Form fields with their error beside them: the browser's own check, ours as the user types, or the
// server's answer naming the field.
import type { ComponentChildren } from 'preact'
import { withoutFieldPath } from '../../lib/links.js'

export function Field(props: {
  label: string
  error?: string
  children: ComponentChildren
  hint?: string
}) {
  return (
    <label class={props.error !== undefined ? 'field invalid' : 'field'}>
      <span class="field-label">{props.label}</span>
      {props.children}
      {props.hint !== undefined && <small class="field-hint">{props.hint}</small>}
      {props.error !== undefined && (
        <span class="field-error" role="alert">
          {withoutFieldPath(props.error)}
        </span>
      )}
    </label>
  )
}
