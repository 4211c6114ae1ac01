// The user's own account: change the password, and the API tokens for Grafana, promtool or scripts.
import { useCallback, useEffect, useState } from 'preact/hooks'
import { ApiError, get, post, put } from '../api.js'
import { DeleteButton } from '../components/delete-button.js'
import { Field } from '../components/form.js'
import { formatTime, useT } from '../state.js'

interface Token {
  id: number
  name: string
  scope: string
  expires_at: number
  created: string
}

export function AccountPage() {
  const t = useT()
  const [oldPassword, setOld] = useState('')
  const [newPassword, setNew] = useState('')
  const [pwError, setPwError] = useState<string | null>(null)
  const [pwDone, setPwDone] = useState(false)
  const [tokens, setTokens] = useState<Token[]>([])
  const [tokenName, setTokenName] = useState('')
  const [scope, setScope] = useState('read')
  const [secret, setSecret] = useState<string | null>(null)
  const [tokenError, setTokenError] = useState<string | null>(null)

  const load = useCallback(async () => {
    try {
      setTokens(await get<Token[]>('/api/v1/user/tokens'))
    } catch (err) {
      if (err instanceof ApiError) setTokenError(err.message)
    }
  }, [])
  useEffect(() => void load(), [load])

  const changePassword = async (e: Event) => {
    e.preventDefault()
    try {
      await put('/api/v1/user/cgpasswd', { old_password: oldPassword, new_password: newPassword })
      setPwError(null)
      setPwDone(true)
      setOld('')
      setNew('')
    } catch (err) {
      if (err instanceof ApiError) setPwError(err.message)
    }
  }
  const createToken = async (e: Event) => {
    e.preventDefault()
    try {
      const r = await post<Token & { token: string }>('/api/v1/user/tokens', {
        name: tokenName,
        scope,
      })
      setSecret(r.token)
      setTokenName('')
      setTokenError(null)
      await load()
    } catch (err) {
      if (err instanceof ApiError) setTokenError(err.message)
    }
  }
  return (
    <div>
      <h1>{t('account.title')}</h1>
      <form class="grid-form" onSubmit={(e) => void changePassword(e)}>
        <h2>{t('account.changePassword')}</h2>
        <Field
          label={t('account.oldPassword')}
          error={pwError?.startsWith('old_password') ? pwError : undefined}
        >
          <input
            type="password"
            autoComplete="current-password"
            required
            value={oldPassword}
            onInput={(e) => setOld((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field
          label={t('account.newPassword')}
          hint={t('account.passwordRule')}
          error={pwError !== null && !pwError.startsWith('old_password') ? pwError : undefined}
        >
          <input
            type="password"
            autoComplete="new-password"
            required
            minLength={6}
            value={newPassword}
            onInput={(e) => setNew((e.target as HTMLInputElement).value)}
          />
        </Field>
        <div class="form-buttons">
          <button type="submit">{t('common.save')}</button>
          {pwDone && <span role="status">{t('account.passwordChanged')}</span>}
        </div>
      </form>
      <h2>{t('account.tokens')}</h2>
      <form class="inline-form" onSubmit={(e) => void createToken(e)}>
        <Field label={t('account.tokenName')} error={tokenError ?? undefined}>
          <input
            required
            value={tokenName}
            onInput={(e) => setTokenName((e.target as HTMLInputElement).value)}
          />
        </Field>
        <Field label={t('account.scope')}>
          <select value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value)}>
            <option value="read">{t('account.scopeRead')}</option>
            <option value="full">{t('account.scopeFull')}</option>
          </select>
        </Field>
        <button type="submit">{t('common.create')}</button>
      </form>
      {secret !== null && (
        <p class="secret" role="status">
          {t('account.tokenOnce')} <code>{secret}</code>
        </p>
      )}
      <table>
        <tbody>
          {tokens.map((tk) => (
            <tr key={tk.id}>
              <td>{tk.name}</td>
              <td>{tk.scope}</td>
              <td>{tk.created}</td>
              <td>{tk.expires_at === 0 ? t('account.never') : formatTime(tk.expires_at * 1000)}</td>
              <td>
                <DeleteButton
                  path={`/api/v1/user/tokens/${tk.id}`}
                  onDone={load}
                  onError={setTokenError}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}
