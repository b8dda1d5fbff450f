import type { ClusterConfig, ConfigChange, NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfigChange(change: ConfigChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: change.type, id: change.id, context: change.context ?? '' }));
}

export function decodeConfigChange(data: Uint8Array): ConfigChange {
  const parsed = JSON.parse(decoder.decode(data)) as { type?: unknown; id?: unknown; context?: unknown };
  if ((parsed.type !== 'add' && parsed.type !== 'remove') || typeof parsed.id !== 'string') {
    throw new Error(`bad config change entry: ${decoder.decode(data)}`);
  }
  const change: ConfigChange = { type: parsed.type, id: parsed.id };
  if (typeof parsed.context === 'string' && parsed.context.length > 0) change.context = parsed.context;
  return change;
}

/** Returns why a change is invalid for this config, or null when it may be proposed. */
export function configChangeProblem(config: ClusterConfig, change: ConfigChange): string | null {
  const member = config.voters.includes(change.id);
  if (change.type === 'add' && member) return `${change.id} is already a voter`;
  if (change.type === 'remove' && !member) return `${change.id} is not a voter`;
  if (change.type === 'remove' && config.voters.length === 1) return 'cannot remove the last voter';
  return null;
}

export function applyConfigChange(config: ClusterConfig, change: ConfigChange): ClusterConfig {
  const voters = new Set(config.voters);
  if (change.type === 'add') voters.add(change.id);
  else voters.delete(change.id);
  return { voters: [...voters].sort() };
}

export function quorumSize(config: ClusterConfig): number {
  return Math.floor(config.voters.length / 2) + 1;
}

/** The highest index that a quorum of voters holds: the quorum-th largest match. */
export function quorumMatch(config: ClusterConfig, matchOf: (id: NodeId) => number): number {
  const matches = config.voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(config) - 1] ?? 0;
}
