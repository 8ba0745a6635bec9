/**
 * Child process for the torn-tail test of test/events/log-store.crash.test.ts: a writer that dies
 * with a commit half-written, for real.
 *   torn-appender.ts <data dir> <segment bytes> <tear at commit> <fraction> <appenders>
 * Takes the lock, opens the store with an injected `write` (`StoreIo`), records a daemon start and
 * runs several appenders concurrently, printing each acknowledged event as `<seq> <id>`. The first
 * write of commit number <tear at commit> (the daemon start is commit 0) puts only about <fraction>
 * of the commit's bytes in the file, always ending inside a line (a short write, as a disk write cut
 * off by a crash leaves), prints `torn <file size before> <bytes written> <bytes of the commit>` and
 * never returns: the store waits to write the rest, and the test kills the process with SIGKILL.
 * stdout is a pipe, so every line printed reaches the parent even though the process dies.
 */
import { fstatSync, write, writeSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock } from '../../src/events/data-lock.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { LogStore, type StoreIo } from '../../src/events/log-store.js';
import { bootId } from '../../src/system/process-identity.js';

const [dir, segmentArg, tearArg, fractionArg, appendersArg] = process.argv.slice(2);
if (dir === undefined || tearArg === undefined || fractionArg === undefined) {
  throw new Error('usage: torn-appender.ts <data dir> <segment bytes> <tear at commit> <fraction> [appenders]');
}
const segmentBytes = Number(segmentArg);
const tearAt = Number(tearArg);
const fraction = Number(fractionArg);
const appenders = Number(appendersArg ?? 4);

let commits = 0;
const io: Partial<StoreIo> = {
  write(fd, buf, offset, length) {
    // offset 0 is the first write of a commit (the store writes the rest of a short write from its offset)
    if (offset === 0 && commits++ === tearAt) {
      let n = Math.min(length - 1, Math.max(1, Math.floor(fraction * length)));
      while (n > 1 && buf[n - 1] === 0x0a) n--; // end inside a line, never just after a newline
      const before = fstatSync(fd).size;
      writeSync(fd, buf, 0, n);
      process.stdout.write(`torn ${before} ${n} ${length}\n`);
      setInterval(() => undefined, 60_000); // stay alive until the kill
      return new Promise<number>(() => { /* the rest is never written */ });
    }
    return new Promise((resolve, reject) => {
      write(fd, buf, offset, length, null, (err, written) => (err ? reject(err) : resolve(written)));
    });
  },
};

acquireLock(join(dir, 'arpd.lock'), { version: 'torn-test' });
const store = LogStore.open({ root: dir, segmentBytes, io });
const ack = (stored: readonly { seq: number; id: string }[]): void => {
  process.stdout.write(stored.map((e) => `${e.seq} ${e.id}\n`).join(''));
};
ack(await store.append({ type: 'daemon.started', data: { pid: process.pid, version: 'torn-test', boot_id: bootId(), host: 'torn-appender' } }));

function batchOf(k: number, i: number): DomainEvent[] {
  const run = `t${process.pid}-${k}-${Math.floor(i / 4)}`;
  const pad = 'z'.repeat((i * 53 + k * 17) % 300);
  switch (i % 4) {
    case 0: return [{ type: 'run.accepted', data: { run_id: run, request: { pad }, request_hash: `h${i}` } }];
    case 1: return [{ type: 'run.started', data: { run_id: run, instance_id: `i${k}` } }, { type: 'run.trace', data: { run_id: run, level: 'info', type: 'progress', data: { i, t: '\u2028😀' } } }];
    case 2: return [{ type: 'profile.upserted', data: { runtime_profile: `p${k}`, profile: { i, pad } } }];
    default: return [{ type: 'run.succeeded', data: { run_id: run, result: { pad } } }];
  }
}

await Promise.all(Array.from({ length: appenders }, async (_, k) => {
  for (let i = 0; ; i++) ack(await store.append(batchOf(k, i)));
}));
