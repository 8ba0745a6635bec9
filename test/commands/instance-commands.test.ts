import t from 'tap';
import { decideCreateInstances, decideDeleteInstance, decideRegisterInstance } from '../../src/commands/instance-commands.js';
import type { ArpdError } from '../../src/errors/index.js';
import { commandProfile, given } from './given.js';

const checkStartable = (): void => undefined;

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (err) { return (err as ArpdError).code; }
  return undefined;
}

t.test('creating instances of a safe-listed profile records one instance.requested each', async (t) => {
  const events = decideCreateInstances(given(commandProfile('p')), { profile: 'p', ids: ['a', 'b'], allowUnsafe: false, checkStartable });
  t.same(events.map((e) => [e.type, (e.data as { instance_id: string }).instance_id]), [['instance.requested', 'a'], ['instance.requested', 'b']]);
});

t.test('a profile that is not on the safe list is E_NOT_FOUND without --allow-unsafe-runtime-profiles', async (t) => {
  t.equal(codeOf(() => decideCreateInstances(given(), { profile: 'nope', ids: ['a'], allowUnsafe: false, checkStartable })), 'E_NOT_FOUND');
});

t.test('with --allow-unsafe-runtime-profiles an unknown profile is recorded as unsafe', async (t) => {
  const [e] = decideCreateInstances(given(), { profile: 'nope', ids: ['a'], allowUnsafe: true, checkStartable });
  t.equal((e?.data as { unsafe?: boolean }).unsafe, true);
});

t.test('an instance id in use is E_CONFLICT', async (t) => {
  const reg = given(commandProfile('p'), { type: 'instance.requested', data: { instance_id: 'a', runtime_profile: 'p' } });
  t.equal(codeOf(() => decideCreateInstances(reg, { profile: 'p', ids: ['a'], allowUnsafe: false, checkStartable })), 'E_CONFLICT');
});

t.test('registering an endpoint records instance.registered; the same live endpoint again records nothing', async (t) => {
  const first = decideRegisterInstance(given(), { id: 'x', endpoint: 'http://127.0.0.1:9/' });
  t.equal(first[0]?.type, 'instance.registered');
  t.equal((first[0]?.data as { runtime_api_endpoint: string }).runtime_api_endpoint, 'http://127.0.0.1:9');
  const reg = given({ type: 'instance.registered', data: { instance_id: 'x', runtime_api_endpoint: 'http://127.0.0.1:9' } });
  t.same(decideRegisterInstance(reg, { id: 'y', endpoint: 'http://127.0.0.1:9' }), []);
});

t.test('an endpoint that is not an http URL is E_VALIDATION', async (t) => {
  for (const endpoint of ['nope', 'file:///etc/passwd', 'ftp://x']) t.equal(codeOf(() => decideRegisterInstance(given(), { id: 'x', endpoint })), 'E_VALIDATION', endpoint);
});

t.test('deleting a managed instance records instance.stopping; an external one is deregistered', async (t) => {
  const reg = given(
    commandProfile('p'),
    { type: 'instance.requested', data: { instance_id: 'm', runtime_profile: 'p' } },
    { type: 'instance.registered', data: { instance_id: 'e', runtime_api_endpoint: 'http://127.0.0.1:9' } },
  );
  t.equal(decideDeleteInstance(reg, { id: 'm', reason: 'deleted' })[0]?.type, 'instance.stopping');
  t.equal(decideDeleteInstance(reg, { id: 'e', reason: 'deleted' })[0]?.type, 'instance.deregistered');
  t.equal(codeOf(() => decideDeleteInstance(reg, { id: 'nope', reason: 'x' })), 'E_NOT_FOUND');
  t.equal(codeOf(() => decideDeleteInstance(reg, { id: '../etc', reason: 'x' })), 'E_VALIDATION');
});
