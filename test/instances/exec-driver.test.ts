import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseExecConfig } from '../../src/instances/exec-config.js';
import { prepareLaunch } from '../../src/instances/exec-driver.js';

t.test('the command driver returns argv, env and cwd as configured, placeholders untouched, and installs nothing', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'arpd-cmd-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const exec = parseExecConfig(
    { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port={port}'], env: { A: '1' }, cwd: '/srv' } },
    'default',
  );
  const lines: string[] = [];
  const launch = await prepareLaunch(exec, { dataDir, profile: 'default', onProgress: (l) => lines.push(l) });
  t.same(launch, { argv: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port={port}'], env: { A: '1' }, cwd: '/srv' });
  t.same(lines, [], 'no progress: nothing to install');
  t.same(await readdir(dataDir), [], 'nothing written');

  const bare = await prepareLaunch(parseExecConfig({ 'arp.jarvis.exec': { driver: 'command', argv: ['rt'] } }, 'p'), { dataDir, profile: 'p' });
  t.same(bare, { argv: ['rt'], env: {} }, 'no cwd when none is configured');
  launch.argv.push('mutated');
  t.same(exec.driver === 'command' ? exec.argv.length : -1, 5, 'the launch is a copy of the config');
});
