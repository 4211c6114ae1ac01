// Test support shared by alarm's tests: an event of a strategy (a full disk) and of an expression (a
// port down), as judge sends them, and the time they happen.
import type { AlarmEvent, Expression, Strategy } from '../core/index.js'

export const T = 1_700_000_000 // 2023-11-14 22:13:20 UTC = 2023-11-15 06:13:20 in Shanghai

export const strategy: Strategy = {
  id: 7,
  metric: 'df.bytes.free.percent',
  tags: { mount: '/' },
  func: 'all(#3)',
  operator: '<',
  rightValue: 10,
  maxStep: 3,
  priority: 1,
  note: 'disk almost full',
  tpl: { id: 12, name: 'linux', parentId: 0, actionId: 4, creator: 'root' },
}

export const expression: Expression = {
  id: 9,
  metric: 'net.port.listen',
  tags: { port: '8080' },
  func: 'max(#2)',
  operator: '==',
  rightValue: 0,
  maxStep: 5,
  priority: 0,
  note: 'port down',
  actionId: 2,
}

/** event is the PROBLEM of `strategy` on host-01 at T (first step, 4.2), with `over` on top. */
export function event(over: Partial<AlarmEvent> = {}): AlarmEvent {
  return {
    id: 's_7_0123456789abcdef0123456789abcdef',
    strategy,
    expression: null,
    status: 'PROBLEM',
    endpoint: 'host-01',
    leftValue: 4.2,
    currentStep: 1,
    eventTime: T,
    pushedTags: { mount: '/', fstype: 'ext4' },
    ...over,
  }
}
