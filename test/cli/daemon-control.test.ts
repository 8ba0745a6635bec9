/**
 * What a restart leaves out of a running daemon's command line: the options of the CLI itself. The global options are
 * read from the real CLI's own `arpd --help`, so an option added to the CLI but not to the list fails here.
 */
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { CLI_ONLY_FLAGS } from '../../src/cli/daemon-control.js';
import { ARPD_JS, cleanEnv } from '../helpers/daemon-harness.js';

/** The options of `arpd --help` (the top level takes only the global ones): spelling -> takes a value. */
function globalOptionsOfHelp(): Map<string, boolean> {
  const res = spawnSync(process.execPath, [ARPD_JS, '--help'], { encoding: 'utf8', env: cleanEnv(), timeout: 60_000 });
  if (res.status !== 0) throw new Error(`arpd --help failed: ${res.stderr}`);
  const section = res.stdout.split(/\nOptions:\n/)[1] ?? '';
  const found = new Map<string, boolean>();
  for (const line of section.split('\n')) {
    const left = /^ {2}(-\S.*?)(?: {2,}|$)/.exec(line)?.[1];
    if (left === undefined) continue;
    for (const part of left.split(',')) {
      const [spelling, placeholder] = part.trim().split(/\s+/);
      if (spelling !== undefined) found.set(spelling, placeholder !== undefined);
    }
  }
  return found;
}

t.test('every global option the CLI declares is left out of a restarted daemon\'s command line, with or without its value as declared', async (t) => {
  const declared = globalOptionsOfHelp();
  declared.delete('-h');
  declared.delete('--help'); // help never runs a daemon
  t.ok(declared.size >= 7, `the help lists the global options: ${[...declared.keys()].join(' ')}`);
  for (const [spelling, takesValue] of declared) {
    t.equal(CLI_ONLY_FLAGS.get(spelling), takesValue, `${spelling} is a CLI-only option${takesValue ? ' with a value' : ''}`);
  }
  t.equal(CLI_ONLY_FLAGS.get('--detached-child'), false, "and serve's internal --detached-child");
});
