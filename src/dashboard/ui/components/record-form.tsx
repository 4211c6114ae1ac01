// A form for one record of the portal (a team, an expression, a nodata rule, …): fields described by
// name, the server's error placed next to the field it names ("body.metric: …"), others above.
import { useState } from 'preact/hooks'
import type { MessageKey } from '../../i18n/index.js'
import { splitFieldErrors } from '../../lib/links.js'
import { ApiError } from '../api.js'
import { useT } from '../state.js'
import { Field } from './form.js'

export interface FieldSpec {
  name: string
  label: MessageKey
  kind?: 'text' | 'textarea' | 'select' | 'password'
  /** For a select: [value, text shown]. */
  options?: [string, string][]
  hint?: string
  required?: boolean
}

export function RecordForm(props: {
  title: string
  fields: FieldSpec[]
  initial: Record<string, string>
  onSubmit: (values: Record<string, string>) => Promise<void>
  onCancel?: () => void
  testId?: string
}) {
  const t = useT()
  const [values, setValues] = useState(props.initial)
  const [errors, setErrors] = useState<{ byField: Record<string, string>; other: string[] }>({
    byField: {},
    other: [],
  })
  const names = props.fields.map((f) => f.name)
  const submit = async (e: Event) => {
    e.preventDefault()
    try {
      await props.onSubmit(values)
      setErrors({ byField: {}, other: [] })
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      setErrors(splitFieldErrors(err.message, names))
    }
  }
  return (
    <form class="grid-form" onSubmit={(e) => void submit(e)} data-testid={props.testId}>
      <h3>{props.title}</h3>
      {errors.other.length > 0 && (
        <p class="error" role="alert">
          {errors.other.join('; ')}
        </p>
      )}
      {props.fields.map((f) => {
        const common = {
          name: f.name,
          value: values[f.name] ?? '',
          required: f.required,
          'aria-invalid': errors.byField[f.name] !== undefined,
          onInput: (e: Event) =>
            setValues({ ...values, [f.name]: (e.target as HTMLInputElement).value }),
        }
        return (
          <Field key={f.name} label={t(f.label)} hint={f.hint} error={errors.byField[f.name]}>
            {f.kind === 'textarea' ? (
              <textarea rows={3} {...common} />
            ) : f.kind === 'select' ? (
              <select {...common} onChange={common.onInput}>
                {(f.options ?? []).map(([v, text]) => (
                  <option key={v} value={v}>
                    {text}
                  </option>
                ))}
              </select>
            ) : f.kind === 'password' ? (
              <input type="password" {...common} />
            ) : (
              <input type="text" {...common} />
            )}
          </Field>
        )
      })}
      <div class="form-buttons">
        <button type="submit">{t('common.save')}</button>
        {props.onCancel !== undefined && (
          <button type="button" onClick={props.onCancel}>
            {t('common.cancel')}
          </button>
        )}
      </div>
    </form>
  )
}
