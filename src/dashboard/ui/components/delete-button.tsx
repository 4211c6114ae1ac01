// A button that deletes one thing through the API (after a confirmation, when one is asked), then
// reloads the list it is in, or shows the API's refusal.
import type { MessageKey } from '../../i18n/index.js'
import { ApiError, del } from '../api.js'
import { useT } from '../state.js'

export function DeleteButton(props: {
  path: string
  confirm?: string
  label?: MessageKey
  onDone: () => Promise<void> | void
  onError: (message: string) => void
}) {
  const t = useT()
  const run = async () => {
    if (props.confirm !== undefined && !confirm(props.confirm)) return
    try {
      await del(props.path)
      await props.onDone()
    } catch (err) {
      if (err instanceof ApiError) props.onError(err.message)
      else throw err
    }
  }
  return (
    <button type="button" onClick={() => void run()}>
      {t(props.label ?? 'common.delete')}
    </button>
  )
}
