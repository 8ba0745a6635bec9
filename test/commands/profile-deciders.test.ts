import t from 'tap';
import { decideDeleteProfile, decideSeedDefaultProfile, decideUpsertProfile } from '../../src/commands/profile-deciders.js';
import { command, commandProfile, events, given, refusal } from './given.js';

const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };
const upsert = (name: string, request: Record<string, unknown>) => command('UpsertProfile', { name, request: request as never });

t.test('upserting a new profile records profile.upserted with the name in the profile', async (t) => {
  t.same(events(decideUpsertProfile(given(), upsert('p1', { runtime_name: 'r', extensions: exec }))), [
    { type: 'profile.upserted', data: { runtime_profile: 'p1', profile: { runtime_profile: 'p1', runtime_name: 'r', extensions: exec } } },
  ]);
});

t.test('upserting the same profile again records nothing', async (t) => {
  t.same(events(decideUpsertProfile(given(commandProfile('p1')), upsert('p1', { extensions: exec }))), []);
});

t.test('upserting a changed profile records the new profile', async (t) => {
  t.equal(events(decideUpsertProfile(given(commandProfile('p1')), upsert('p1', { description: 'new', extensions: exec }))).length, 1);
});

t.test('a hostile or malformed profile name is refused with E_VALIDATION', async (t) => {
  for (const name of ['../x', '', '.hidden', 'a/b', 'x'.repeat(129), 'sp ace']) {
    t.equal(refusal(decideUpsertProfile(given(), upsert(name, { extensions: exec }))), 'E_VALIDATION', JSON.stringify(name));
  }
});

t.test('a body naming another profile than the path is refused', async (t) => {
  t.equal(refusal(decideUpsertProfile(given(), upsert('a', { runtime_profile: 'b', extensions: exec }))), 'E_VALIDATION');
});

t.test('a bad exec config is refused before anything is recorded', async (t) => {
  t.equal(refusal(decideUpsertProfile(given(), upsert('a', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: 'sh -c x' } } }))), 'E_VALIDATION');
});

t.test('arguments and environment over 1 MiB in all are refused naming the total and the limit, each entry being within its own limit', async (t) => {
  const chunk = 'x'.repeat(100_000);
  const env = (n: number, prefix: string): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, chunk]));
  const big = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true', chunk, chunk], env: env(4, 'E') } };
  const d = decideUpsertProfile(given(), upsert('a', { extensions: big, defaults: { env: env(5, 'D') } }));
  t.equal(refusal(d), 'E_VALIDATION');
  t.match((d as Error).message, /^profile 'a' gives its runtime 1100\d{3} bytes of arguments and environment \(extensions\["arp\.jarvis\.exec"\] 600\d{3}, defaults 500\d{3}\): at most 1048576 bytes \(1 MiB\).*shorten them, or put the data in a file/);
  t.match((d as { data?: unknown }).data, { field: 'extensions["arp.jarvis.exec"]', rule: 'max-total-bytes', limit_bytes: 1048576 });
  t.equal(events(decideUpsertProfile(given(), upsert('a', { extensions: big, defaults: { env: env(4, 'E') } }))).length, 1, 'a variable the defaults set again counts once');
});

t.test('a profile that says nothing about how to start its runtime is refused (JARVIS and the conformance suite refuse {})', async (t) => {
  for (const request of [{}, { runtime_name: 'x' }, { extensions: {} }, { extensions: { 'com.example.x': 1 } }]) {
    const d = decideUpsertProfile(given(), upsert('a', request));
    t.equal(refusal(d), 'E_VALIDATION', JSON.stringify(request));
    t.match((d as Error).message, /arp\.jarvis\.exec/);
  }
});

t.test('the default profile is seeded once and never again after it was deleted', async (t) => {
  const seed = command('SeedDefaultProfile', { profile: { runtime_name: 'ref', extensions: exec } });
  t.equal(events(decideSeedDefaultProfile(given(), seed))[0]?.type, 'profile.upserted');
  const deleted = given(commandProfile('default'), { type: 'profile.deleted', data: { runtime_profile: 'default' } });
  t.same(events(decideSeedDefaultProfile(deleted, seed)), []);
});

t.test('deleting an unknown profile is E_NOT_FOUND', async (t) => {
  t.equal(refusal(decideDeleteProfile(given(), command('DeleteProfile', { name: 'nope', force: false }))), 'E_NOT_FOUND');
});

t.test('deleting a profile that live instances use is E_CONFLICT unless forced', async (t) => {
  const reg = given(commandProfile('p1'), { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } });
  t.equal(refusal(decideDeleteProfile(reg, command('DeleteProfile', { name: 'p1', force: false }))), 'E_CONFLICT');
  t.match((decideDeleteProfile(reg, command('DeleteProfile', { name: 'p1', force: false })) as Error).message, /'--force', or '\?force=true' over HTTP/, 'how to force it, from the CLI and over HTTP');
  t.same(events(decideDeleteProfile(reg, command('DeleteProfile', { name: 'p1', force: true }))), [{ type: 'profile.deleted', data: { runtime_profile: 'p1', forced: true } }]);
});

t.test('deleting a profile whose instances are stopped records profile.deleted', async (t) => {
  const reg = given(
    commandProfile('p1'),
    { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } },
    { type: 'instance.stopped', data: { instance_id: 'i1', reason: 'deleted' } },
  );
  t.same(events(decideDeleteProfile(reg, command('DeleteProfile', { name: 'p1', force: false }))), [{ type: 'profile.deleted', data: { runtime_profile: 'p1' } }]);
});
