/**
 * `arpd events [--follow] --json` against a REAL daemon: NDJSON (one event per line, through
 * `ndjson.stringify()`), the same events the log holds, filtered by type and stream, and with --follow
 * the events the daemon appends next, pushed through its socket.
 */
import t from 'tap';
import { connect } from '../../src/client/index.js';
import { daemonHarness, parseNdjson, type EventLine } from '../helpers/daemon-harness.js';
import { oneErrorLine } from '../helpers/error-line.js';

const h = daemonHarness(t);
const dir = h.newDataDir();
await h.startDaemon(dir);

t.test('prints every event of the log as one JSON line each, as the daemon reads them', async (t) => {
  const r = await h.cli(dir, ['events', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.ok(r.stdout.endsWith('\n'), 'ends with a newline');
  const lines = parseNdjson<EventLine>(r.stdout);
  t.ok(lines.length >= 2, `${lines.length} events`);
  t.same(lines.map((e) => e.seq), lines.map((_, i) => i + 1), 'from seq 1, none missing');
  const arpd = await connect({ dataDir: dir });
  t.teardown(() => arpd.close());
  const page = await arpd.events.read({ fromSeq: 1, limit: 10_000 });
  t.same(lines, page.events.slice(0, lines.length), 'the same events as events.read');
  t.equal(r.stdout.split('\n').filter((l) => l !== '').length, lines.length, 'one line per event');
});

t.test('filters by --type (a family with a trailing dot), --stream and --from', async (t) => {
  const all = parseNdjson<EventLine>((await h.cli(dir, ['events', '--json'])).stdout);
  const daemon = parseNdjson<EventLine>((await h.cli(dir, ['events', '--json', '--type', 'daemon.'])).stdout);
  t.same(daemon, all.filter((e) => e.type.startsWith('daemon.')));
  const profiles = parseNdjson<EventLine>((await h.cli(dir, ['events', '--json', '--stream', 'profile:'])).stdout);
  t.same(profiles, all.filter((e) => e.stream.startsWith('profile:')));
  const from = parseNdjson<EventLine>((await h.cli(dir, ['events', '--json', '--from', '2'])).stdout);
  t.same(from, all.slice(1));
});

// ('--type ""' is refused before it comes here, as every option without a value)
t.test('refuses a blank --type, as the daemon refuses an empty type (it printed no event, and every one over HTTP)', async (t) => {
  const r = await h.cli(dir, ['events', '--type', ' ']);
  const message = oneErrorLine(t, r, 'E_VALIDATION', 'a blank --type');
  t.match(message, /^--type takes an event type such as 'run\.succeeded', or a family ending in '\.' such as 'run\.', not an empty text$/);
  t.equal(r.stdout, '', 'no event is printed');
});

// no event type holds a comma or a space: such a --type printed nothing from the files, and the daemon refuses it
t.test('refuses a --type with a comma or a space, saying to repeat --type, and takes repeated ones as several types', async (t) => {
  for (const type of ['daemon.,profile.', ' daemon.', 'daemon. profile.']) {
    const r = await h.cli(dir, ['events', '--type', type]);
    const message = oneErrorLine(t, r, 'E_VALIDATION', `--type '${type}'`);
    t.equal(message, `--type takes one event type, with no commas or spaces, not '${type}': repeat --type for several (--type run. --type instance.ready)`, `--type '${type}'`);
    t.equal(r.stdout, '', `--type '${type}': no event is printed`);
  }
  const all = parseNdjson<EventLine>((await h.cli(dir, ['events', '--json'])).stdout);
  const two = parseNdjson<EventLine>((await h.cli(dir, ['events', '--json', '--type', 'daemon.', '--type', 'profile.'])).stdout);
  t.same(two, all.filter((e) => e.type.startsWith('daemon.') || e.type.startsWith('profile.')), 'two --type flags are two types');
  t.ok(two.some((e) => e.type.startsWith('profile.')) && two.some((e) => e.type.startsWith('daemon.')), 'both kinds are there');
});

t.test('--follow prints the events the daemon appends next', async (t) => {
  const before = parseNdjson<EventLine>((await h.cli(dir, ['events', '--json'])).stdout);
  const follow = h.spawnCli(dir, ['events', '--json', '--follow', '--type', 'profile.']);
  await follow.waitForOutput('the log so far', (out) => parseNdjson<EventLine>(out).length === before.filter((e) => e.type.startsWith('profile.')).length);
  const up = await h.cli(dir, ['profiles', 'upsert', 'followed', '--description', 'seen live', '--', 'true']);
  t.equal(up.code, 0, up.stderr);
  await follow.waitForOutput('the new event', (out) => parseNdjson<EventLine>(out).some((e) => e.data['runtime_profile'] === 'followed'));
  const got = parseNdjson<EventLine>(follow.stdout());
  t.same(got.map((e) => e.seq), [...got.map((e) => e.seq)].sort((a, b) => a - b), 'in order');
  t.equal(new Set(got.map((e) => e.seq)).size, got.length, 'none twice (the files, then the daemon)');
  follow.kill('SIGTERM');
  await follow.exited;
});
