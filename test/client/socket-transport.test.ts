/**
 * The SDK's socket transport and close(): a REAL daemon process on a socket in a temp dir. Each stream (a follow, a
 * subscription, an instance start with progress) has a connection of its own; close() ends those too, and a closed
 * client opens none, as it sends no call.
 */
import t from 'tap';
import { ArpdError, connect } from '../../src/client/index.js';
import { waitFor } from '../helpers/daemon-harness.js';
import { startHttpDaemon } from '../server/http-daemon.js';

const daemon = await startHttpDaemon(t);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then((v) => ({ resolved: v }), (e: unknown) => e);
}

t.test('a closed client refuses a subscription, a follow and an instance start with progress, as it refuses a call', async (t) => {
  const arpd = await connect({ dataDir: daemon.dataDir });
  await arpd.close();
  for (const [what, p] of [
    // each started when awaited: a refusal that came before its handler was attached would be unhandled
    ['a call', () => arpd.daemon.status()],
    ['a subscription', () => arpd.events.subscribe({ fromSeq: 1 }).next()],
    ['a follow', () => arpd.runs.follow('run_none').next()],
    ['an instance start with progress', () => arpd.instances.start({ runtime_profile: 'default', count: 1 }, { wait: true, onProgress: () => undefined })],
  ] as const) {
    const err = await rejection(p());
    t.type(err, ArpdError, `${what} is refused (${JSON.stringify(err)})`);
    if (!(err instanceof ArpdError)) continue;
    t.equal(err.code, 'E_UNAVAILABLE', what);
    t.match(err.message, /this client is closed; connect again/, what);
  }
});

t.test('close() ends an instance start that reports its progress, with E_CANCELED', async (t) => {
  const arpd = await connect({ dataDir: daemon.dataDir });
  const watcher = await connect({ dataDir: daemon.dataDir });
  t.teardown(() => watcher.close());
  const before = new Set((await watcher.instances.list({ all: true })).instances.map((i) => i.instance_id));
  const start = rejection(arpd.instances.start({ runtime_profile: 'default', count: 1 }, { wait: true, onProgress: () => undefined }));
  // the daemon has the request once the instance is in its list (it is ready only later)
  await waitFor('the instance to be requested', async () => (await watcher.instances.list({ all: true })).instances.some((i) => !before.has(i.instance_id)) || undefined);
  await arpd.close();
  const err = await start;
  t.type(err, ArpdError, `the start is ended (${JSON.stringify(err)})`);
  if (err instanceof ArpdError) t.equal(err.code, 'E_CANCELED');
});
