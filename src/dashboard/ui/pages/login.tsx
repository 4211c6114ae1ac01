// Log in with a falcon user; afterwards back to the page the user was sent here from.
import { useState } from 'preact/hooks'
import { ApiError, post } from '../api.js'
import { safeNext } from '../../lib/links.js'
import { Field } from '../components/form.js'
import { navigate, session, useT, type Route } from '../state.js'

export function LoginPage(props: { route: Route }) {
  const t = useT()
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: Event) => {
    e.preventDefault()
    setBusy(true)
    try {
      const r = await post<{ sig: string; name: string; admin: boolean }>('/api/v1/user/login', {
        name,
        password,
      })
      session.set({ name: r.name, sig: r.sig, admin: r.admin })
      navigate(safeNext(props.route.query.get('next')), true)
    } catch (err) {
      if (err instanceof ApiError) setError(err.message)
    } finally {
      setBusy(false)
    }
  }
  return (
    <div class="login-page">
      <form class="login-form" onSubmit={(e) => void submit(e)}>
        <h1>{t('app.name')}</h1>
        {props.route.query.get('next') !== null && <p class="hint">{t('login.expired')}</p>}
        <Field label={t('login.name')}>
          <input
            name="name"
            autoComplete="username"
            required
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field label={t('login.password')} error={error ?? undefined}>
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </Field>
        <button type="submit" disabled={busy}>
          {t('login.submit')}
        </button>
      </form>
    </div>
  )
}
