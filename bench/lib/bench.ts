import type { BenchResult } from './report.js';

/**
 * One benchmark = one file under `bench/` exporting a `Bench`, plus one line in the registry of
 * `bench/index.ts`. `run` measures arpd and its baseline in the same process run, on the same disk,
 * and returns figures; it writes progress through `ctx.log` (stderr) and nothing to stdout.
 */
export interface Bench {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

export interface BenchContext {
  /** Short trials (a smoke run of the harness): figures are not stable. */
  quick: boolean;
  /** When set, profile arpd's side and write `.cpuprofile` files here; hot functions go in the notes. */
  profileDir: string | undefined;
  log(message: string): void;
  /**
   * Call before each measured trial: with `--wait-idle <s>` it waits (up to s seconds) until the
   * machine is mostly idle, and counts the trials that started on a busy machine.
   */
  settle(): Promise<void>;
}
