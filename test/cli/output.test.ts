import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { useColour } from '../../src/cli/output.js';

const OUTPUT = fileURLToPath(new URL('../../src/cli/output.ts', import.meta.url));

/**
 * Runs `body` in a fresh node process (output.ts keeps whether stdout was used in module state), with
 * `o` bound to the module; stdout and stderr are pipes, so never a TTY.
 */
function run(body: string, env: Record<string, string> = {}): { stdout: string; stderr: string; status: number | null } {
  const script = `const o = await import(${JSON.stringify(OUTPUT)});\n${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

t.test('colour only on a TTY, never with NO_COLOR set or TERM=dumb', async (t) => {
  const saved = { NO_COLOR: process.env['NO_COLOR'], TERM: process.env['TERM'] };
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v; }
  });
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as unknown as NodeJS.WriteStream;
  delete process.env['NO_COLOR'];
  process.env['TERM'] = 'xterm-256color';
  t.equal(useColour(tty), true);
  t.equal(useColour(pipe), false);
  process.env['NO_COLOR'] = '1';
  t.equal(useColour(tty), false, 'NO_COLOR');
  process.env['NO_COLOR'] = '';
  t.equal(useColour(tty), true, 'an empty NO_COLOR is unset');
  process.env['TERM'] = 'dumb';
  t.equal(useColour(tty), false, 'TERM=dumb');
});

// One process runs every printing step in order (a fresh process each costs seconds): the first error comes
// before any result, so --json puts it on stdout; the later ones come after results were printed.
const ERRORS = JSON.stringify(fileURLToPath(new URL('../../src/errors/index.ts', import.meta.url)));
const MARK = '----';
const steps = run(`
  const { ArpdError } = await import(${ERRORS});
  const mark = () => { process.stdout.write('${MARK}\\n'); process.stderr.write('${MARK}\\n'); };
  o.reportError(new Error('x'), true); mark();
  o.printTable(['ID', 'STATE', 'NOTE'], [['r1', 'running', ''], ['run-22', 'ok', 'last column is not padded']]); mark();
  o.printSortedJson({ b: 1, a: { d: [ { z: 1, y: 2 }, 3 ], c: null } }); mark();
  o.reportError(new Error('y'), true); mark();
  process.stdout.write(String(o.reportError(new ArpdError('E_NOT_FOUND', "run 'r1' does not exist\\n  check the id\\n\\n")))); mark();
  process.exitCode = o.reportError(new Error('disk on fire'));
`);
const stdout = steps.stdout.split(`${MARK}\n`);
const stderr = steps.stderr.split(`${MARK}\n`);

t.test('with --json an error before any result goes to stdout too, as one JSON document', async (t) => {
  t.same(JSON.parse(stdout[0] ?? ''), { error: { code: 'E_INTERNAL', message: 'internal error: see the daemon log for details' } });
  t.equal(stderr[0], 'arpd: error: internal error: see the daemon log for details [E_INTERNAL]\n', 'the short message, no stack');
});

t.test('a table pads every column but the last, bold header without colour on a pipe', async (t) => {
  t.equal(stdout[1], ['ID      STATE    NOTE', 'r1      running', 'run-22  ok       last column is not padded', ''].join('\n'));
  t.equal(stderr[1], '');
});

t.test('sorted JSON sorts keys at every level and keeps array order', async (t) => {
  t.equal(stdout[2], `${JSON.stringify({ a: { c: null, d: [{ y: 2, z: 1 }, 3] }, b: 1 }, null, 2)}\n`);
});

t.test('with --json an error after a result leaves stdout alone', async (t) => {
  t.equal(stdout[3], '');
  t.match(stderr[3], /\[E_INTERNAL\]\n$/);
});

t.test('an error is one line on stderr with its code, and its exit code is returned', async (t) => {
  t.equal(stderr[4], "arpd: error: run 'r1' does not exist; check the id [E_NOT_FOUND]\n");
  t.equal(stdout[4], '4', 'E_NOT_FOUND exits 4');
  t.equal(steps.status, 1, 'E_INTERNAL exits 1');
});

t.test('the stack of an unexpected failure is printed only with ARPD_DEBUG', async (t) => {
  t.notMatch(stderr[5], /disk on fire/);
  const debug = run(`process.exitCode = o.reportError(new Error('disk on fire'));`, { ARPD_DEBUG: '1' });
  t.match(debug.stderr, /^arpd: error: internal error.*\[E_INTERNAL\]\nError: disk on fire\n\s+at /);
});
