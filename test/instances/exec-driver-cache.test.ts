import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { ensureInstalled, installKey, MARKER_FILE, type InstallIo, type InstallMarker, type InstallPlan } from '../../src/instances/exec-driver-cache.js';

async function tempRoot(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arpd-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'venvs', 'prof');
}

interface Counting {
  plan: InstallPlan;
  calls: () => number;
  signals: AbortSignal[];
}

/** A plan whose install writes a file (and waits for `gate`, when given) instead of running pip or npm. */
function plan(root: string, install?: (dir: string, io: InstallIo) => Promise<void>, spec = 'pkg==1.0'): Counting {
  let calls = 0;
  const signals: AbortSignal[] = [];
  return {
    calls: () => calls,
    signals,
    plan: {
      driver: 'pip',
      spec,
      root,
      key: installKey({ driver: 'pip', spec }),
      options: { python: 'python3' },
      async install(dir, io) {
        calls += 1;
        signals.push(io.signal);
        io.progress(`pip install ${spec}…`);
        await io.log.line('installing for real, honestly');
        await writeFile(join(dir, 'payload.txt'), 'installed');
        if (install !== undefined) await install(dir, io);
        return { python: '3.x' };
      },
    },
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function installDirs(root: string, key: string): Promise<string[]> {
  return (await readdir(root)).filter((n) => n.startsWith(`${key}.d-`)).sort();
}

/** A pid that no process has (it did, and has exited). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  return r.pid ?? 999_999;
}

t.test('makes keys of 16 hex digits that ignore key order and undefined, and change with any option', async (t) => {
  const a = installKey({ driver: 'pip', spec: 'x==1', options: { noIndex: true, indexUrl: undefined } });
  t.match(a, /^[0-9a-f]{16}$/);
  t.equal(installKey({ options: { noIndex: true }, spec: 'x==1', driver: 'pip' }), a);
  t.not(installKey({ driver: 'pip', spec: 'x==1', options: { noIndex: false } }), a);
  t.not(installKey({ driver: 'pip', spec: 'x==2', options: { noIndex: true } }), a);
});

t.test('installs once, publishes the key with its marker, and reuses it while the marker is there', async (t) => {
  const root = await tempRoot();
  const p = plan(root);
  const lines: string[] = [];
  const first = await ensureInstalled(p.plan, { onProgress: (l) => lines.push(l) });
  t.equal(first.cached, false);
  t.equal(first.dir, join(root, p.plan.key));
  t.equal(first.log, join(root, `${p.plan.key}.install.log`));
  t.ok((await lstat(first.dir)).isSymbolicLink(), 'the published path is a link');
  t.equal(await readFile(join(first.dir, 'payload.txt'), 'utf8'), 'installed');
  const marker = JSON.parse(await readFile(join(first.dir, MARKER_FILE), 'utf8')) as InstallMarker;
  t.match(marker, { v: 1, driver: 'pip', spec: 'pkg==1.0', key: p.plan.key, options: { python: 'python3' }, versions: { python: '3.x' } });
  t.same(first.marker, marker);
  t.match(await readFile(first.log, 'utf8'), /installing for real, honestly/);
  t.match(lines, ['pip install pkg==1.0…', /^installed pkg==1\.0 in \d+\.\ds$/]);
  t.same(await installDirs(root, p.plan.key), [await readlink(first.dir)], 'one install directory, the one linked');

  const again: string[] = [];
  const second = await ensureInstalled(p.plan, { onProgress: (l) => again.push(l) });
  t.equal(second.cached, true);
  t.same(second.marker, marker);
  t.equal(p.calls(), 1, 'installed once');
  t.match(again, [/^using the installed pkg==1\.0 in /]);
});

t.test('shares one install between concurrent callers', async (t) => {
  const root = await tempRoot();
  const gate = deferred();
  const p = plan(root, () => gate.promise);
  const lines: string[][] = [[], [], []];
  const all = Promise.all(lines.map((l) => ensureInstalled(p.plan, { onProgress: (x) => l.push(x) })));
  setImmediate(() => gate.resolve());
  const results = await all;
  t.equal(p.calls(), 1, 'one install for three callers');
  t.same(new Set(results.map((r) => r.marker.installed_at)).size, 1, 'all got the same install');
  for (const l of lines) t.ok(l.some((x) => /^installed pkg==1\.0 in /.test(x)), 'every caller hears the install finish');
});

t.test('a failed install publishes nothing, removes its directory, and the next call installs again', async (t) => {
  const root = await tempRoot();
  let fail = true;
  const p = plan(root, async (_dir, io) => {
    await io.log.line('error: no matching distribution');
    if (fail) throw new ArpdError('E_INSTALL_FAILED', 'pip install of pkg==1.0 failed (exit 1): error', { exit_code: 1 });
  });
  await t.rejects(ensureInstalled(p.plan), { code: 'E_INSTALL_FAILED', data: { exit_code: 1 } });
  t.notOk(existsSync(join(root, p.plan.key)), 'no published install');
  t.same(await installDirs(root, p.plan.key), [], 'no install directory left');
  t.match(await readFile(join(root, `${p.plan.key}.install.log`), 'utf8'), /no matching distribution[\s\S]*# install failed/);

  fail = false;
  const ok = await ensureInstalled(p.plan);
  t.equal(ok.cached, false);
  t.equal(p.calls(), 2);
});

t.test('turns an unexpected failure into E_INSTALL_FAILED with the log path', async (t) => {
  const root = await tempRoot();
  const p = plan(root, () => Promise.reject(new Error('disk on fire')));
  await t.rejects(ensureInstalled(p.plan), { code: 'E_INSTALL_FAILED', message: /disk on fire/, data: { log: join(root, `${p.plan.key}.install.log`) } });
});

t.test('does not take a published install without a marker for a finished one: it installs and replaces it', async (t) => {
  const root = await tempRoot();
  const p = plan(root);
  const broken = `${p.plan.key}.d-${deadPid()}-0badc0de`;
  await mkdir(join(root, broken), { recursive: true });
  await symlink(broken, join(root, p.plan.key));
  const out = await ensureInstalled(p.plan);
  t.equal(out.cached, false);
  t.not(await readlink(out.dir), broken, 'the link points at the new install');
  t.notOk(existsSync(join(root, broken)), 'the broken leftover is removed');

  const root2 = await tempRoot();
  const p2 = plan(root2);
  await mkdir(join(root2, p2.plan.key), { recursive: true });
  await writeFile(join(root2, p2.plan.key, MARKER_FILE), '{"v":1,"torn');
  const out2 = await ensureInstalled(p2.plan);
  t.equal(out2.cached, false, 'a torn marker is no marker');
  t.ok((await lstat(out2.dir)).isSymbolicLink(), 'a plain directory in the way is replaced by the link');
});

t.test('removes leftovers of installs whose process is gone and keeps those of live processes', async (t) => {
  const root = await tempRoot();
  const p = plan(root);
  const dead = `${p.plan.key}.d-${deadPid()}-aaaaaaaa`;
  const live = `${p.plan.key}.d-${process.ppid}-bbbbbbbb`;
  const other = `0123456789abcdef.d-${deadPid()}-cccccccc`;
  for (const d of [dead, live, other]) await mkdir(join(root, d), { recursive: true });
  await ensureInstalled(p.plan);
  t.notOk(existsSync(join(root, dead)), 'a crashed install is removed');
  t.ok(existsSync(join(root, live)), 'a running install elsewhere is kept');
  t.ok(existsSync(join(root, other)), 'another key is left alone');
});

t.test('when another process published first, uses its install and removes its own', async (t) => {
  const root = await tempRoot();
  const theirsDir = 'theirs.d-1-ffffffff';
  const p = plan(root, async () => {
    // the other process finishes while this one is installing
    const theirs: InstallMarker = {
      v: 1,
      driver: 'pip',
      spec: 'pkg==1.0',
      key: installKey({ driver: 'pip', spec: 'pkg==1.0' }),
      options: {},
      installed_at: '2000-01-01T00:00:00.000Z',
      duration_ms: 1,
      versions: {},
    };
    await mkdir(join(root, theirsDir));
    await writeFile(join(root, theirsDir, MARKER_FILE), JSON.stringify(theirs));
    await symlink(theirsDir, join(root, theirs.key));
  });
  const out = await ensureInstalled(p.plan);
  t.equal(out.marker.installed_at, '2000-01-01T00:00:00.000Z', 'theirs');
  t.equal(await readlink(out.dir), theirsDir);
  t.same(await installDirs(root, p.plan.key), [], 'its own directory is removed');
});

t.test('a signal aborted before the call installs nothing', async (t) => {
  const root = await tempRoot();
  const p = plan(root);
  const c = new AbortController();
  c.abort();
  await t.rejects(ensureInstalled(p.plan, { signal: c.signal }), { code: 'E_CANCELED' });
  t.equal(p.calls(), 0);
});

t.test('aborting the only waiter aborts the install, and E_CANCELED comes once its directory is gone', async (t) => {
  const root = await tempRoot();
  const started = deferred();
  const p = plan(root, async (_dir, io) => {
    started.resolve();
    await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }));
    throw new ArpdError('E_CANCELED', 'the install was canceled');
  });
  const c = new AbortController();
  const pending = ensureInstalled(p.plan, { signal: c.signal });
  await started.promise;
  t.same((await installDirs(root, p.plan.key)).length, 1, 'an install directory while installing');
  c.abort();
  await t.rejects(pending, { code: 'E_CANCELED', message: /the install of pkg==1\.0 was canceled/ });
  t.equal(p.signals[0]?.aborted, true, 'the install was told to stop');
  t.same(await installDirs(root, p.plan.key), [], 'its directory is removed');
  t.notOk(existsSync(join(root, p.plan.key)), 'nothing published');
});

t.test('aborting one of two waiters leaves the install running for the other', async (t) => {
  const root = await tempRoot();
  const started = deferred();
  const gate = deferred();
  const p = plan(root, async () => {
    started.resolve();
    await gate.promise;
  });
  const c = new AbortController();
  const quitter = ensureInstalled(p.plan, { signal: c.signal });
  const stayer = ensureInstalled(p.plan, { signal: new AbortController().signal });
  await started.promise;
  c.abort();
  await t.rejects(quitter, { code: 'E_CANCELED' });
  t.equal(p.signals[0]?.aborted, false, 'the install goes on');
  gate.resolve();
  const out = await stayer;
  t.equal(out.cached, false);
  t.equal(p.calls(), 1);
});
