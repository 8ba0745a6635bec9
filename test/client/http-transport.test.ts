/**
 * The SDK's HTTP transport when the daemon goes away under it: a REAL daemon process, killed with SIGKILL while
 * streams are open on its HTTP API. What a caller gets is an ArpdError with a stable code, never node's bare
 * `Error: aborted`.
 */
import t from 'tap';
import { ArpdError, connect } from '../../src/client/index.js';
import { daemonHarness, waitFor } from '../helpers/daemon-harness.js';
import { startHttpDaemon } from '../server/http-daemon.js';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => 'resolved', (e: unknown) => e);
}

t.test('a daemon killed while a follow and a subscription are open over HTTP rejects both with E_UNAVAILABLE', async (t) => {
  const h = daemonHarness(t);
  const daemon = await startHttpDaemon(t, [], { dataDir: h.newDataDir() });
  const arpd = await connect({ url: daemon.url, token: daemon.token });
  t.teardown(() => arpd.close());
  const run = await arpd.runs.submit({ input: { goal: 'sleep:600000 What is (1+1)?' } });
  // the managed instance is detached from the daemon: kill it by pid at the end, as the daemon cannot
  const running = await waitFor('the run to start', async () => ((await arpd.runs.get(run.run_id)).state === 'running' ? true : undefined));
  t.ok(running);
  const instances = (await arpd.instances.list({ all: true })).instances;
  t.teardown(() => {
    for (const i of instances) {
      const pid = (i.extensions?.['arpd.instance'] as { pid?: unknown } | undefined)?.pid;
      if (typeof pid === 'number') try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  const follow = arpd.runs.follow(run.run_id);
  t.equal((await follow.next()).done, false, 'the follow has its first line');
  const sub = arpd.events.subscribe({ fromSeq: 1 });
  t.equal((await sub.next()).done, false, 'the subscription has its first event');
  daemon.child.kill('SIGKILL');
  await daemon.stop();

  for (const [what, err] of [
    ['the follow', await rejection((async () => { for await (const _ of follow) { /* the rest of the trace */ } })())],
    ['its status', await rejection(follow.status)],
    ['the subscription', await rejection((async () => { for await (const _ of sub) { /* the rest of the log */ } })())],
  ] as const) {
    t.type(err, ArpdError, `${what} rejects with an ArpdError (${String(err)})`);
    if (!(err instanceof ArpdError)) continue;
    t.equal(err.code, 'E_UNAVAILABLE', what);
    t.match(err.message, /was lost during '(runs\.follow|events\.subscribe)'.*check 'arpd daemon status'/, what);
    t.same(err.data?.['url'], daemon.url, what);
  }
});
