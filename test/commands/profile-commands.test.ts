import t from 'tap';
import { decideDeleteProfile, decideUpsertProfile } from '../../src/commands/profile-commands.js';
import { ArpdError } from '../../src/errors/index.js';
import { parseExecConfig } from '../../src/instances/exec-config.js';
import { commandProfile, given } from './given.js';

const checkExec = (ext: unknown, name: string): void => { parseExecConfig(ext, name); };
const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (err) { return (err as ArpdError).code; }
  return undefined;
}

t.test('upserting a new profile records profile.upserted with the name in the profile', async (t) => {
  const events = decideUpsertProfile(given(), { name: 'p1', request: { runtime_name: 'r', extensions: exec }, checkExec });
  t.same(events, [{ type: 'profile.upserted', data: { runtime_profile: 'p1', profile: { runtime_profile: 'p1', runtime_name: 'r', extensions: exec } } }]);
});

t.test('upserting the same profile again records nothing', async (t) => {
  const reg = given(commandProfile('p1'));
  t.same(decideUpsertProfile(reg, { name: 'p1', request: { extensions: exec }, checkExec }), []);
});

t.test('upserting a changed profile records the new profile', async (t) => {
  const reg = given(commandProfile('p1'));
  t.equal(decideUpsertProfile(reg, { name: 'p1', request: { description: 'new', extensions: exec }, checkExec }).length, 1);
});

t.test('a hostile or malformed profile name is refused with E_VALIDATION', async (t) => {
  for (const name of ['../x', '', '.hidden', 'a/b', 'x'.repeat(129), 'sp ace']) {
    t.equal(codeOf(() => decideUpsertProfile(given(), { name, request: {}, checkExec })), 'E_VALIDATION', JSON.stringify(name));
  }
});

t.test('a body naming another profile than the path is refused', async (t) => {
  t.equal(codeOf(() => decideUpsertProfile(given(), { name: 'a', request: { runtime_profile: 'b' }, checkExec })), 'E_VALIDATION');
});

t.test('a bad exec config is refused before anything is recorded', async (t) => {
  t.equal(codeOf(() => decideUpsertProfile(given(), { name: 'a', request: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: 'sh -c x' } } }, checkExec })), 'E_VALIDATION');
});

t.test('deleting an unknown profile is E_NOT_FOUND', async (t) => {
  t.equal(codeOf(() => decideDeleteProfile(given(), { name: 'nope', force: false })), 'E_NOT_FOUND');
});

t.test('deleting a profile that live instances use is E_CONFLICT unless forced', async (t) => {
  const reg = given(commandProfile('p1'), { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } });
  t.equal(codeOf(() => decideDeleteProfile(reg, { name: 'p1', force: false })), 'E_CONFLICT');
  t.same(decideDeleteProfile(reg, { name: 'p1', force: true }), [{ type: 'profile.deleted', data: { runtime_profile: 'p1', forced: true } }]);
});

t.test('deleting a profile whose instances are stopped records profile.deleted', async (t) => {
  const reg = given(
    commandProfile('p1'),
    { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } },
    { type: 'instance.stopped', data: { instance_id: 'i1', reason: 'deleted' } },
  );
  t.same(decideDeleteProfile(reg, { name: 'p1', force: false }), [{ type: 'profile.deleted', data: { runtime_profile: 'p1' } }]);
});
