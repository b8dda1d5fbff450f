// LabeledHistogram must expose exactly what prom-client's Histogram would for the same
// observations: dashboards and alerts read these series by name, label and bucket.

import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { JOB_SECONDS_BUCKETS } from '../../src/metrics/buckets.js';
import { LabeledHistogram } from '../../src/metrics/labeled-histogram.js';

describe('LabeledHistogram', () => {
  it('prints the same exposition text as prom-client for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    ours.setDefaultLabels({ node: 'n1' });
    theirs.setDefaultLabels({ node: 'n1' });
    const fast = new LabeledHistogram('raftq_test_seconds', 'A test histogram.', 'queue', JOB_SECONDS_BUCKETS, [ours]);
    const reference = new Histogram({ name: 'raftq_test_seconds', help: 'A test histogram.', labelNames: ['queue'], buckets: [...JOB_SECONDS_BUCKETS], registers: [theirs] });
    const samples: [string, number][] = [
      ['emails', 0],
      ['emails', 0.001],
      ['emails', 0.0011],
      ['exports', 2.5],
      ['emails', 7200],
      ['exports', 0.3],
      ['q"uoted\\', 0.05],
    ];
    for (const [queue, seconds] of samples) {
      fast.observe(queue, seconds);
      reference.observe({ queue }, seconds);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // The JSON form too, but for prom-client's `exemplar: null` (exemplars are not enabled).
    const withoutExemplars = (metrics: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
      metrics.map((m) => ({ ...m, values: m.values.map((v) => Object.fromEntries(Object.entries(v).filter(([key]) => key !== 'exemplar'))) }));
    expect(await ours.getMetricsAsJSON()).toEqual(withoutExemplars(await theirs.getMetricsAsJSON()));
  });

  it('refuses values that are not finite, and bounds that do not increase', () => {
    const h = new LabeledHistogram('raftq_t2_seconds', 'x', 'op', [0.1, 1], []);
    expect(() => h.observe('get', Number.NaN)).toThrow(TypeError);
    expect(() => new LabeledHistogram('raftq_t3_seconds', 'x', 'op', [1, 1], [])).toThrow(/increase/);
  });
});
