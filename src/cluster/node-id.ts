import { createHash, randomBytes } from 'node:crypto';
import { isValidId } from '../ids/id-rules.js';

/**
 * A node's default id: the host name and a short hash of the data dir (`build-7-3f9a2c1e`), so two daemons on one
 * host (two data dirs) are two nodes and a restarted daemon is the same node. Only letters, digits, '.', '_' and
 * '-' survive from the host name.
 */
export function defaultNodeId(host: string, dataDir: string): string {
  const name = host.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 100) || 'host';
  const id = `${name}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`;
  return isValidId(id) ? id : `node-${createHash('sha256').update(`${host}\0${dataDir}`).digest('hex').slice(0, 16)}`;
}

/** A new incarnation: one per start of a node (and per new join after it was recorded lost). */
export function newIncarnation(): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
