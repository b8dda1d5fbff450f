// Seeded randomness for toxicity draws, latency jitter and slicer sizes, so a test (or a jepsen-lite
// run) that passes a seed sees the same choices every time.

/** Uniform in [0, 1), like Math.random. */
export type RandomSource = () => number;

/**
 * A small seeded generator: Marsaglia's xorshift32 over a state scrambled from the seed. Its
 * quality is ample for fault injection; it is not for anything that needs unpredictability.
 */
export function createSeededRandom(seed: number): RandomSource {
  // Scramble so that nearby seeds (1, 2, 3) start far apart; zero is xorshift's one fixed point.
  let state = (Math.imul(seed | 0, 0x9e3779b1) ^ 0x85ebca6b) | 0;
  if (state === 0) state = 0x6c078965;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
  for (let warmup = 0; warmup < 8; warmup += 1) next();
  return next;
}

/** An integer in [minInclusive, maxExclusive). */
export function randomInt(random: RandomSource, minInclusive: number, maxExclusive: number): number {
  return minInclusive + Math.floor(random() * (maxExclusive - minInclusive));
}
