import { cac } from 'cac';
import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { DAEMON_FLAGS, daemonOptionsOf, serveArgsOf } from '../../src/cli/serve-options.js';

const BASE = { dataDir: '/d', socketPath: '/d/arpd.sock', foreground: true };

/**
 * The options cac makes of `arpd serve <argv>`, declared as bin/arpd.ts declares them. (bin/arpd.ts first runs
 * src/cli/argv-check.ts, which refuses a value flag without its value: values starting with '-' go as `--flag=-1`.)
 */
function parse(argv: string[]): Record<string, unknown> {
  const cli = cac('arpd');
  const cmd = cli.command('serve', 'run the daemon');
  for (const f of DAEMON_FLAGS) cmd.option(f.flag, f.description);
  return cli.parse(['node', 'arpd', 'serve', ...argv], { run: false }).options;
}

const options = (argv: string[], env: NodeJS.ProcessEnv = {}) => daemonOptionsOf(parse(argv), BASE, env);

function refusal(argv: string[]): ArpdError {
  try {
    options(argv);
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

t.test('no flags give the defaults: HTTP on 127.0.0.1 with token auth, autostart on, no store URL', async (t) => {
  const o = options([]);
  t.same(o.http, { host: '127.0.0.1', auth: 'token', requestTimeoutMs: undefined, keepAliveTimeoutMs: undefined });
  t.equal(o.runs?.autostartInstances, true);
  t.equal(o.repair, false);
  t.equal(o.store?.url, undefined);
  t.equal(o.dataDir, '/d');
});

t.test('values are read into the options they name', async (t) => {
  const o = options(['--queue-timeout', '500', '--retain-days', '1.5', '--http-port', '0', '--log-level', 'debug', '--no-autostart-instances', '--repair', '--default-profile', 'p1', '--snapshot-every', '10']);
  t.equal(o.runs?.queueTimeoutMs, 500);
  t.equal(o.retention?.retainDays, 1.5, 'days may be a fraction');
  t.equal((o.http as { port?: number }).port, 0);
  t.equal(o.logLevel, 'debug');
  t.equal(o.runs?.autostartInstances, false);
  t.equal(o.repair, true);
  t.equal(o.defaultProfile, 'p1');
  t.equal(o.retention?.snapshotEveryEvents, 10);
});

t.test('a number out of range or not a number is refused, naming the flag and the range', async (t) => {
  const cases: Array<[string[], string, RegExp]> = [
    [['--http-port', '70000'], '--http-port', /--http-port takes a number from 0 to 65535, not '70000'/],
    [['--http-port', 'eighty'], '--http-port', /not 'eighty'/],
    [['--queue-timeout=-1'], '--queue-timeout', /from 0 to 86400000/],
    [['--max-trace-depth', '1'], '--max-trace-depth', /from 2 to 1000/],
    [['--retain-runs', '2.5'], '--retain-runs', /a whole number from 0/],
    [['--idle-timeout', '0'], '--idle-timeout', /from 0.001/],
    [['--segment-bytes', '100'], '--segment-bytes', /from 4096/],
    [['--log-budget-bytes', '1000'], '--log-budget-bytes', /from 1048576/],
  ];
  for (const [argv, flag, message] of cases) {
    const err = refusal(argv);
    t.equal(err.code, 'E_VALIDATION', argv.join(' '));
    t.equal(err.data?.['field'], flag);
    t.equal(err.data?.['usage'], true, 'a usage error (exit 2)');
    t.match(err.message, message);
  }
});

t.test('an unknown log level is refused and the levels are listed', async (t) => {
  const err = refusal(['--log-level', 'loud']);
  t.equal(err.data?.['field'], '--log-level');
  t.match(err.message, /--log-level takes fatal, error, warn, info, debug, trace, silent, not 'loud'/);
});

t.test('the JARVIS spellings --host and --port work, but not together with --http-host or --http-port', async (t) => {
  t.same([(options(['--host', '0.0.0.0', '--port', '9000']).http as { host: string }).host, (options(['--port', '9000']).http as { port: number }).port], ['0.0.0.0', 9000]);
  t.equal(refusal(['--host', 'a', '--http-host', 'b']).data?.['field'], '--host');
  t.equal(refusal(['--port', '1', '--http-port', '2']).data?.['field'], '--port');
  t.equal(refusal(['--port', '99999']).data?.['field'], '--http-port', 'the range names the flag it checks');
});

t.test('--no-http turns the HTTP API off', async (t) => {
  t.equal(options(['--no-http']).http, false);
});

t.test('allowed hosts may be repeated or comma-separated, blanks dropped', async (t) => {
  t.same((options(['--allowed-hosts', 'a.example, b.example,', '--allowed-hosts', 'c.example']).http as { allowedHosts: string[] }).allowedHosts, ['a.example', 'b.example', 'c.example']);
});

t.test('the store URL and the OTLP endpoint come from the flag, else the environment, an empty variable being unset', async (t) => {
  t.equal(options([], { ARPD_STORE_URL: 'postgres://e/db' }).store?.url, 'postgres://e/db');
  t.equal(options(['--store', 'postgres://f/db'], { ARPD_STORE_URL: 'postgres://e/db' }).store?.url, 'postgres://f/db');
  t.equal(options([], { ARPD_STORE_URL: '' }).store?.url, undefined);
  t.equal(options([], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318' }).telemetry?.otlpEndpoint, 'http://otel:4318');
  t.equal(options([], { OTEL_EXPORTER_OTLP_ENDPOINT: '' }).telemetry?.otlpEndpoint, undefined);
});

t.test('pip flags gather into the pip options, repeatable ones as lists', async (t) => {
  const o = options(['--pip-index-url', 'https://i', '--pip-extra-index-url', 'https://x1', '--pip-extra-index-url', 'https://x2', '--pip-no-index', '--pip-arg=--pre']);
  t.same(o.instances?.pip, { indexUrl: 'https://i', extraIndexUrls: ['https://x1', 'https://x2'], noIndex: true, extraArgs: ['--pre'] });
  t.equal(options([]).instances?.pip, undefined, 'no pip flag: no pip options');
});

// the flags a detached `arpd serve` is started with must mean what the user's flags meant
const flagValue: Record<string, fc.Arbitrary<string>> = {
  idleTimeout: fc.constantFrom('1', '0.5', '600'), queueTimeout: fc.constantFrom('0', '500'), runTimeout: fc.constantFrom('1', '60000'),
  httpPort: fc.constantFrom('0', '8082', '65535'), logLevel: fc.constantFrom('info', 'debug'), defaultProfile: fc.constantFrom('p', 'a-b'),
  retainDays: fc.constantFrom('0', '1.5'), retainRuns: fc.constantFrom('0', '10'), httpAuth: fc.constantFrom('token', 'none'),
  store: fc.constantFrom('postgres://u@h/db'), maxTraceDepth: fc.constantFrom('2', '64'),
};
const listValue = fc.array(fc.constantFrom('h1.example', 'h2.example', 'https://idx'), { minLength: 1, maxLength: 3 });

t.test('property: the flags passed on to a detached serve parse to the same daemon options', async (t) => {
  const valueFlags = DAEMON_FLAGS.filter((f) => f.kind === 'value' && flagValue[f.key] !== undefined);
  const boolFlags = DAEMON_FLAGS.filter((f) => f.kind === 'bool');
  const listFlags = DAEMON_FLAGS.filter((f) => f.kind === 'list' && f.key !== 'pipArg');
  const argv = fc.tuple(
    fc.subarray(valueFlags).chain((fs) => fc.tuple(...fs.map((f) => (flagValue[f.key] as fc.Arbitrary<string>).map((v) => [f.flag.split(' ')[0] as string, v])))),
    fc.subarray(boolFlags).map((fs) => fs.map((f) => f.flag)),
    fc.subarray(listFlags).chain((fs) => fc.tuple(...fs.map((f) => listValue.map((vs) => vs.flatMap((v) => [f.flag.split(' ')[0] as string, v]))))),
  ).map(([values, bools, lists]) => [...values.flat(), ...bools, ...lists.flat()]);
  fc.assert(fc.property(argv, (args) => {
    const first = parse(args);
    const again = parse(serveArgsOf(first));
    t.same(daemonOptionsOf(again, BASE, {}), daemonOptionsOf(first, BASE, {}), args.join(' '));
  }), { numRuns: 60 });
});
