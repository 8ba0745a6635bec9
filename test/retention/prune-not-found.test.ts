/**
 * A run asked for after `arpd runs prune` removed it, on a real daemon over the socket (the CLI) and over HTTP: the
 * answer is still E_NOT_FOUND (404), and its message says the run may have been pruned, once the daemon has pruned
 * any runs (before that, an unknown run id is answered as before). arpd keeps a count of pruned runs, not their ids.
 */
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';
import { request, startHttpDaemon } from '../server/http-daemon.js';

const h = daemonHarness(t);

t.test('a pruned run is not found, and the message says it may have been pruned, over the socket and over HTTP', async (t) => {
  const d = await startHttpDaemon(t);
  const cli = (args: string[]) => h.cli(d.dataDir, args);
  const ok = async (args: string[]): Promise<string> => {
    const r = await cli(args);
    if (r.code !== 0) throw new Error(`arpd ${args.join(' ')} exited ${String(r.code)}: ${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const get = (path: string) => request(d.url, 'GET', path, { token: d.token });

  await ok(['runs', 'submit', '--goal', 'echo:old', '--run-id', 'old', '--wait', '--json']);
  const before = await cli(['runs', 'status', 'never', '--json']);
  t.equal(before.code, 4, 'an unknown run before any prune: not found');
  t.match(before.stderr, /no run 'never': see 'arpd runs list' \[E_NOT_FOUND\]/);
  t.notMatch(before.stderr, /prune/, 'and no word of pruning while nothing was pruned');
  t.notMatch(JSON.stringify((await get('/v1/runs/never')).body), /prune/, 'nor over HTTP');

  const pruned = JSON.parse(await ok(['runs', 'prune', '--before', new Date(Date.now() + 1).toISOString(), '--json'])) as { runs: number };
  t.equal(pruned.runs, 1, 'the run is pruned');

  const said = /no run 'old': see 'arpd runs list' \(it may have been pruned: 'arpd runs prune' has removed 1 ended run here, and pruned runs are no longer kept\)/;
  for (const ask of [['runs', 'status', 'old'], ['runs', 'result', 'old'], ['runs', 'trace', 'old'], ['runs', 'cancel', 'old']]) {
    const r = await cli([...ask, '--json']);
    t.equal(r.code, 4, `${ask.join(' ')}: the exit code of E_NOT_FOUND`);
    t.match(r.stderr, said, `${ask.join(' ')}: says it may have been pruned`);
    t.match(r.stderr, /\[E_NOT_FOUND\]/, 'with the same code');
  }
  for (const path of ['/v1/runs/old', '/v1/runs/old/result', '/v1/runs/old/trace']) {
    const a = await get(path);
    t.equal(a.status, 404, `GET ${path}: 404`);
    t.match(a.body, { error: { code: 'runs.not_found', message: said } }, `GET ${path}: the same message`);
  }
  t.equal((await cli(['daemon', 'stop'])).code, 0);
  await d.stop();
});
