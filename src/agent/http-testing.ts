// Test support for agentHttp: requests injected into its request listener with light-my-request (a
// devDependency), so the agent itself never loads it.
import inject from 'light-my-request'
import { agentHttp, type AgentHttp, type AgentHttpContext } from './http.js'

/** InjectableAgentHttp is an AgentHttp that also answers injected requests, as Fastify's inject. */
export interface InjectableAgentHttp extends AgentHttp {
  inject(options: string | inject.InjectOptions): Promise<inject.Response>
}

/** injectableAgentHttp builds agentHttp(ctx) with an `inject` that needs no listening socket. */
export function injectableAgentHttp(ctx: AgentHttpContext): InjectableAgentHttp {
  const app = agentHttp(ctx)
  return { ...app, inject: (options) => inject(app.handle, options) }
}
