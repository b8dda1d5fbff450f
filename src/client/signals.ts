// One process-wide SIGTERM/SIGINT listener for every Worker that asks for graceful shutdown.
// A listener replaces Node's default action (exit), so after every worker has drained we re-raise
// the signal — unless the application listens too, in which case exiting is its decision.
// Shared rather than per worker: with two workers, the first to drain must not kill the second.

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

interface Closable {
  close(): Promise<void>;
}

const registered = new Set<Closable>();

function onSignal(signal: NodeJS.Signals): void {
  const closing = [...registered].map((worker) => worker.close());
  void Promise.allSettled(closing).then(() => {
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}

export function closeOnSignals(worker: Closable): void {
  if (registered.size === 0) for (const signal of SIGNALS) process.on(signal, onSignal);
  registered.add(worker);
}

export function stopClosingOnSignals(worker: Closable): void {
  if (!registered.delete(worker) || registered.size > 0) return;
  for (const signal of SIGNALS) process.off(signal, onSignal);
}
