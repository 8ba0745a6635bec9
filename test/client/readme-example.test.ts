/**
 * The example of src/client/README.md, run for real: the code block is taken from the README as it is,
 * written into the package (so `import … from 'arpd/client'` resolves through package.json's exports
 * to dist/), and run with node against a fresh data dir, where it starts a real daemon.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, REPO_ROOT } from '../helpers/daemon-harness.js';

/** The first ```ts block after the marker comment. */
export function exampleOf(readme: string): string {
  const marker = readme.indexOf('<!-- the example below is run for real');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(marker));
  if (marker === -1 || m === null) throw new Error('src/client/README.md has no marked ```ts example');
  return m[1] ?? '';
}

t.test('the README example runs against a daemon it starts and prints what the README says', async (t) => {
  const h = daemonHarness(t);
  const dataDir = h.newDataDir();
  const code = exampleOf(readFileSync(join(REPO_ROOT, 'src', 'client', 'README.md'), 'utf8'));
  t.match(code, /from 'arpd\/client'/, 'it imports the package by its public name');
  const dir = join(REPO_ROOT, 'tmp');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `readme-example-${process.pid}.mjs`);
  writeFileSync(file, code);
  t.teardown(() => rmSync(file, { force: true }));
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: process.env['HOME'], ARPD_HOME: dataDir, NO_COLOR: '1' };
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('error', reject);
    child.once('close', (c) => { clearTimeout(killer); resolve({ code: c, stdout, stderr }); });
  });
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.match(lines[0] ?? '', /^1 accepted$/, 'the trace from its first line');
  t.same(lines.slice(-2), ['succeeded (19*23) = 437', 'E_NOT_FOUND'], 'then the state and the answer, then the error code');
  const status = await h.status(dataDir);
  t.type(status?.['pid'], 'number', 'the daemon it started runs on');
});
