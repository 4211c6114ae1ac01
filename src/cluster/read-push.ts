// What nodata and aggregator share: the portal store they read rules from, the graph nodes they read
// last points from and the transfers they push to, as settings and as the clients built from them.
import {
  checkGraphCluster,
  checkInt,
  checkReplication,
  checkTransferAddresses,
  type Deps,
} from '../core/index.js'
import { checkStoreUrl } from '../store/index.js'
import { GraphCluster } from './graph-cluster.js'
import { TransferPusher } from './transfer-pusher.js'

/** ReadPushConfig: the settings of a component that reads from graph and pushes to transfer. */
export interface ReadPushConfig {
  /** store: the portal store holding the rules, groups and hosts. */
  store: string
  /** graphCluster: the graph nodes last points are read from, as transfer's (node → `host:port`). */
  graphCluster: Record<string, string>
  /** replicas: points per node on the hash ring (falcon 500), as transfer's. */
  replicas: number
  /** replication: on how many graph nodes transfer keeps each series (default 1), as transfer's. */
  replication: number
  /** callTimeout: ms a graph or transfer call may take. */
  callTimeout: number
  /** transfer: where points go: transfer JSON-RPC `host:port` addresses, or http push URLs. */
  transfer: string[]
  /** refreshInterval: ms between two checks of whether the rules, groups or hosts changed. */
  refreshInterval: number
  /** maxPending: points kept while no transfer takes them; past it the oldest are dropped. */
  maxPending: number
}

/** defaultReadPush: the all-in-one's defaults of those settings (maxPending is each component's). */
export const defaultReadPush: Omit<ReadPushConfig, 'maxPending'> = {
  store: 'sqlite:./data/portal.db',
  graphCluster: { 'graph-00': '127.0.0.1:6070' },
  replicas: 500,
  replication: 1,
  callTimeout: 10_000,
  transfer: ['127.0.0.1:8433'],
  refreshInterval: 5000,
}

/** checkReadPush adds to `problems` what is wrong with those settings of `section`, each named. */
export function checkReadPush(problems: string[], section: string, c: ReadPushConfig): void {
  checkStoreUrl(problems, `${section}.store`, c.store)
  checkGraphCluster(problems, `${section}.graphCluster`, c.graphCluster)
  checkTransferAddresses(problems, `${section}.transfer`, c.transfer)
  checkInt(problems, `${section}.replicas`, c.replicas, 1, 10_000)
  checkReplication(problems, section, c.replication, c.graphCluster)
  checkInt(problems, `${section}.callTimeout`, c.callTimeout, 1, 600_000, 'ms')
  checkInt(problems, `${section}.refreshInterval`, c.refreshInterval, 100, 3_600_000, 'ms')
  checkInt(problems, `${section}.maxPending`, c.maxPending, 1, 100_000_000)
}

/**
 * readPush builds the graph client and the transfer pusher of `config`; `o` names the component in
 * logs and sets the pusher's batch and calls in flight.
 */
export function readPush(
  config: Readonly<ReadPushConfig>,
  deps: Deps,
  o: { name: string; batch: number; inFlight: number }
): { graphs: GraphCluster; pusher: TransferPusher } {
  const graphs = new GraphCluster(
    config.graphCluster,
    config.replicas,
    config.callTimeout,
    deps.dial,
    config.replication
  )
  const pusher = new TransferPusher(
    {
      addresses: config.transfer,
      batch: o.batch,
      inFlight: o.inFlight,
      callTimeout: config.callTimeout,
      maxPending: config.maxPending,
      name: o.name,
    },
    deps
  )
  return { graphs, pusher }
}
