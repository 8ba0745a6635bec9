/**
 * Test-only builders and readers for the event log: domain events for a few small stream pools,
 * a read-only reader of every event on disk, the exact expected content of each run log, and a way
 * to drop a store as a crashed process would (without writing anything more).
 */
import { accessSync, closeSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent, JsonObject } from '../../src/events/event-types.js';
import { decodeLine } from '../../src/events/line-codec.js';
import { listLogFiles } from '../../src/events/log-files.js';
import { scanFile } from '../../src/events/log-scan.js';
import type { LogStore } from '../../src/events/log-store.js';
import { encodeTraceLine } from '../../src/events/trace-line.js';
import { defersRunLog } from '../../src/events/run-log-queue.js';

export const FIXED_TS = '2024-05-01T12:00:00.000Z';

/**
 * Where tests that sync thousands of times put their files: a RAM-backed tmpfs when there is one.
 * These tests simulate process crashes, which the page cache survives, so nothing they check
 * depends on the disk; on ext4 each fsync of a growing file costs milliseconds, which would turn a
 * 1,000-run property into minutes.
 */
function fastTmp(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/** A fresh temp dir (on tmpfs when available); remove it with `removeDir`. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(fastTmp(), `arpd-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * `removeDir` for a dir an abandoned store (a simulated crash) may still be writing: it can be creating a run's
 * directory on the thread pool while the tree is removed (ENOTEMPTY, seen under load in the model test). Its callbacks
 * run between the tries, and its last creation fails once `runs/` is gone.
 */
export async function removeDirSettled(dir: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || tries >= 40) throw err;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** Every decodable event in the log files of `root`, in file order, without changing anything on disk. */
export function readLogEvents(root: string): StoredEvent[] {
  const out: StoredEvent[] = [];
  for (const file of listLogFiles(root)) {
    if (!existsSync(file.path)) continue;
    scanFile(file.path, {
      line(buf, start, end) {
        const r = decodeLine(buf, start, end);
        if (!r.ok) throw new Error(`undecodable line in ${file.path}: ${r.reason}`);
        out.push(r.event);
      },
    });
  }
  return out;
}

/**
 * Checks that each run log holds exactly the trace lines of its run's events in the global log, in
 * order, and that no run directory exists for a run the log does not know. `only` limits the check
 * to some runs. Returns the problems found.
 */
/** True when every event of the run in `events` is of its acceptance (run.accepted, run.queued). */
export function waitsInQueue(events: readonly StoredEvent[], runId: string): boolean {
  return events.every((e) => e.stream !== `run:${runId}` || defersRunLog(e.type));
}

export function runLogProblems(root: string, events: readonly StoredEvent[], only?: ReadonlySet<string>): string[] {
  const expected = new Map<string, string[]>();
  for (const e of events) {
    if (!e.stream.startsWith('run:')) continue;
    const runId = e.stream.slice(4);
    if (only !== undefined && !only.has(runId)) continue;
    let lines = expected.get(runId);
    if (lines === undefined) expected.set(runId, (lines = []));
    lines.push(encodeTraceLine(e, runId));
  }
  const problems: string[] = [];
  for (const [runId, lines] of expected) {
    const path = join(root, 'runs', runId, 'trace.jsonl');
    const actual = existsSync(path) ? readFileSync(path, 'utf8') : '<missing>';
    // a run that has only waited in the queue may have no log yet: it is created when the run leaves the queue
    if (actual === '<missing>' && waitsInQueue(events, runId)) continue;
    const want = lines.join('');
    if (actual !== want) {
      const got = actual === '<missing>' ? 0 : actual.split('\n').length - 1;
      problems.push(`run log of ${runId} has ${got} lines that differ from the ${lines.length} of the global log`);
    }
  }
  const runsDir = join(root, 'runs');
  if (only === undefined && existsSync(runsDir)) {
    for (const name of readdirSync(runsDir)) {
      const path = join(runsDir, name, 'trace.jsonl');
      if (!expected.has(name) && existsSync(path) && readFileSync(path, 'utf8') !== '') {
        problems.push(`run log of ${name} exists but the global log has no such run`);
      }
    }
  }
  return problems;
}

interface StoreInternals {
  fd: number;
  closing: boolean;
  runLogs: { close(): void };
}

const abandoned = new WeakSet<LogStore>();

/**
 * Drops a store the way a crashed process would: nothing more is written, pending appends never
 * settle. The descriptors a dead process would lose are closed by hand so a long property run does
 * not run out of them.
 */
export function abandonStore(store: LogStore): void {
  const inner = store as unknown as StoreInternals;
  // a descriptor number is reused once closed: never close one twice
  if (abandoned.has(store) || inner.closing) return;
  abandoned.add(store);
  closeSync(inner.fd);
  inner.runLogs.close();
}

/** Small id pools so that streams collide and revisions grow. */
export const RUN_IDS = ['r1', 'r2', 'run-3'] as const;
export const INSTANCE_IDS = ['i1', 'i2'] as const;
export const PROFILE_IDS = ['p1', 'p2'] as const;

/** Number of event kinds `sampleEvent` knows. */
export const EVENT_KINDS = 12;

/**
 * A deterministic event: `kind` picks the type (0..8 run, 9..10 instance, 11 profile), `slot` the id
 * in that kind's pool, `n` and `pad` vary the content (a long `pad` fills segments fast).
 */
export function sampleEvent(kind: number, slot: number, n: number, pad = ''): DomainEvent {
  const note: JsonObject = { n, pad, text: `line ${n} \u2028 "quoted" é 😀` };
  const k = kind % EVENT_KINDS;
  const pool: readonly string[] = k <= 8 ? RUN_IDS : k <= 10 ? INSTANCE_IDS : PROFILE_IDS;
  const id = pool[slot % pool.length] as string;
  switch (k) {
    case 0: return { type: 'run.accepted', data: { run_id: id, request: { input: note }, request_hash: `h${n}` } };
    case 1: return { type: 'run.queued', data: { run_id: id, reason: `no instance ${pad}` } };
    case 2: return { type: 'run.routed', data: { run_id: id, instance_id: 'i1', runtime_api_endpoint: 'http://127.0.0.1:1/' } };
    case 3: return { type: 'run.started', data: { run_id: id, instance_id: 'i1' } };
    case 4: return { type: 'run.trace', data: { run_id: id, level: 'info', type: 'progress', data: note } };
    case 5: return { type: 'run.trace', data: { run_id: id, level: 'debug', type: 'token', data: { t: pad }, time: FIXED_TS } };
    case 6: return { type: 'run.succeeded', data: { run_id: id, result: note } };
    case 7: return { type: 'run.failed', data: { run_id: id, error: { code: 'E_RUNTIME_ERROR', message: `boom ${n}`, details: note } } };
    case 8: return { type: 'run.canceled', data: { run_id: id, reason: `canceled ${pad}` } };
    case 9: return { type: 'instance.requested', data: { instance_id: id, runtime_profile: 'p1', metadata: note } };
    case 10: return { type: 'instance.busy', data: { instance_id: id, active_runs: n % 5 } };
    default: return { type: 'profile.upserted', data: { runtime_profile: id, profile: note } };
  }
}
