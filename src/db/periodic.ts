/**
 * A task run once per cluster on a timer: every `intervalMs`, only while `held()` says this
 * process holds the cluster lease (leases.ts). One round at a time (the next is timed from the
 * end of the last); a failed round is reported and the next one still runs. The timer never
 * keeps the process alive, and stop() waits for a round in flight. The archive's maintenance,
 * the scheduled-status publisher and the media sweeper run on it.
 */
export function createPeriodic(options: {
  readonly intervalMs: number;
  readonly held: () => boolean;
  readonly run: () => Promise<unknown>;
  readonly onError: (error: unknown) => void;
}) {
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      round = (options.held() ? options.run() : Promise.resolve()).catch(options.onError).finally(schedule);
    }, options.intervalMs);
    timer.unref();
  };
  return {
    start(): void {
      stopped = false;
      schedule();
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
