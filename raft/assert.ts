/** A broken Raft invariant: a bug to crash on, never a case to handle quietly. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant broken: ${message}`);
    this.name = 'RaftInvariantError';
  }
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}
