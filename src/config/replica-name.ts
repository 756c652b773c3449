/**
 * This replica's name (cluster.replica, or the host name when that is empty): the `replica`
 * label of every metric, and part of the holder ids it writes into the index (upload claims,
 * download leases) so an operator can tell which replica holds what.
 */
import { hostname } from 'node:os';
import type { Config } from './schema.js';

export function replicaName(cluster: Config['cluster']): string {
  return cluster.replica === '' ? hostname() : cluster.replica;
}
