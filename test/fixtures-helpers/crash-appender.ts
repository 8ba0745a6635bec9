/**
 * Child process for test/events/log-store.crash.test.ts: a daemon-like writer that the test kills
 * with SIGKILL at a random moment.
 *   crash-appender.ts <data dir> <segment bytes> <appenders> [kill after ms]
 * Takes the data dir lock, opens the store, records a daemon start, then runs several appenders
 * concurrently, forever; with a kill delay, it SIGKILLs itself that long after its first acknowledgement (its own
 * timer: the test's may fire late while the test checks another data dir, and the log would grow by the second). Each acknowledged event is printed as `<seq> <id>` on stdout as soon as its
 * append resolves (stdout is a pipe: writes are synchronous, so a printed ack reaches the parent even
 * if the process dies right after).
 */
import { join } from 'node:path';
import { acquireLock } from '../../src/events/data-lock.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { LogStore } from '../../src/events/log-store.js';
import { bootId } from '../../src/system/process-identity.js';

const [dir, segmentArg, appendersArg] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: crash-appender.ts <data dir> [segment bytes] [appenders]');
const segmentBytes = Number(segmentArg ?? 128 * 1024 * 1024);
const appenders = Number(appendersArg ?? 6);
const killAfterMs = process.argv[5] === undefined ? undefined : Number(process.argv[5]);
let armed = false;

acquireLock(join(dir, 'arpd.lock'), { version: 'crash-test' });
const store = LogStore.open({ root: dir, segmentBytes });
await store.append({ type: 'daemon.started', data: { pid: process.pid, version: 'crash-test', boot_id: bootId(), host: 'crash-appender' } });

const BIG = 'b'.repeat(48 * 1024);

function batchOf(k: number, i: number): DomainEvent[] {
  const run = `c${process.pid}-${k}-${Math.floor(i / 6)}`;
  // now and then a line of many pages: commits of several pages, quick segment rolls (a kill inside one
  // write() could tear it, but that is rare; the torn-tail test tears on purpose)
  if (k === 0 && i % 8 === 7) return [{ type: 'run.trace', data: { run_id: run, level: 'info', type: 'blob', data: { big: BIG } } }];
  const pad = 'z'.repeat((i * 37 + k * 11) % 200);
  switch (i % 6) {
    case 0: return [{ type: 'run.accepted', data: { run_id: run, request: { pad }, request_hash: `h${i}` } }];
    case 1: return [{ type: 'run.queued', data: { run_id: run } }, { type: 'instance.busy', data: { instance_id: `i${k}`, active_runs: i % 4 } }];
    case 2: return [{ type: 'run.started', data: { run_id: run, instance_id: `i${k}` } }];
    case 3: return [{ type: 'run.trace', data: { run_id: run, level: 'info', type: 'progress', data: { i, pad } } }, { type: 'run.trace', data: { run_id: run, level: 'debug', type: 'token', data: { t: '\u2028😀' } } }];
    case 4: return [{ type: 'profile.upserted', data: { runtime_profile: `p${k}`, profile: { i } } }];
    default: return [{ type: 'run.succeeded', data: { run_id: run, result: { pad } } }, { type: 'run.trace', data: { run_id: `c${process.pid}-shared`, level: 'warn', type: 'note', data: { k, i } } }];
  }
}

async function appender(k: number): Promise<void> {
  for (let i = 0; ; i++) {
    const stored = await store.append(batchOf(k, i));
    process.stdout.write(stored.map((e) => `${e.seq} ${e.id}\n`).join(''));
    if (!armed && killAfterMs !== undefined) {
      armed = true;
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), killAfterMs);
    }
  }
}

await Promise.all(Array.from({ length: appenders }, (_, k) => appender(k)));
