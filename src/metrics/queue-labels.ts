// Bounded label values for queues. Every distinct label value is a time series in every metric
// that carries it, so the first METRIC_QUEUE_LABELS_MAX queues this node sees keep their own name
// and every later one is reported under QUEUE_LABEL_OTHER. A queue literally named "_other" (the
// name pattern allows it) shares that label rather than getting one of its own: a label value
// must mean one thing.

import { METRIC_QUEUE_LABELS_MAX } from '../limits.js';

/** The label value shared by every queue beyond the first METRIC_QUEUE_LABELS_MAX. */
export const QUEUE_LABEL_OTHER = '_other';

export class QueueLabeler {
  private readonly named = new Set<string>();

  constructor(readonly labelsMax: number = METRIC_QUEUE_LABELS_MAX) {
    if (!Number.isSafeInteger(labelsMax) || labelsMax < 0) throw new Error(`invariant: labelsMax must be a non-negative integer, got ${labelsMax}`);
  }

  /**
   * The label value for a queue. Assignment is sticky (a queue never changes label while the node
   * runs) and follows first sight, which is log order: nodes that apply the same log agree.
   */
  label(queue: string): string {
    if (this.named.has(queue)) return queue;
    if (queue === QUEUE_LABEL_OTHER) return QUEUE_LABEL_OTHER;
    if (this.named.size >= this.labelsMax) return QUEUE_LABEL_OTHER;
    this.named.add(queue);
    return queue;
  }

  /** Queues that have a label of their own. */
  get namedCount(): number {
    return this.named.size;
  }
}
