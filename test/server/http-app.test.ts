/**
 * The app's own rules about its routes, checked on the real fastify app (no daemon needed): the auth hook reads a
 * route's `admin` flag only for methods that change things, so an admin route with a safe method must not exist.
 */
import t, { type Test } from 'tap';
import { createAuthenticator } from '../../src/server/http-auth.js';
import { createHttpApp, type HttpBackend } from '../../src/server/http-app.js';
import { hostPolicy } from '../../src/server/http-origin.js';

function appWith(t: Test, plugin: Parameters<typeof createHttpApp>[0]['plugins']): ReturnType<typeof createHttpApp> {
  const dir = t.testdir();
  const auth = createAuthenticator({ mode: 'token', host: '127.0.0.1', tokenFile: `${dir}/http.token`, adminTokenFile: `${dir}/http.admin-token` });
  return createHttpApp({
    // the routes' handlers are not called here: building the app does not touch the backend
    backend: {} as HttpBackend,
    auth,
    hosts: () => hostPolicy('127.0.0.1', 8082),
    version: 'test',
    onInternalError: () => undefined,
    ...(plugin === undefined ? {} : { plugins: plugin }),
  });
}

t.test('refuses at start an admin route with a safe method, and takes one with a method that changes things', async (t) => {
  await t.rejects(appWith(t, [(app) => { app.get('/x', { config: { admin: true } }, async () => ({})); }]), /admin route with a safe method/, 'GET with admin: refused');
  await t.rejects(appWith(t, [(app) => { app.route({ method: ['HEAD', 'POST'], url: '/y', config: { admin: true }, handler: async () => ({}) }); }]), /admin route with a safe method/, 'HEAD among its methods: refused');
  const made = await appWith(t, [(app) => { app.post('/z', { config: { admin: true } }, async () => ({})); }]);
  t.teardown(() => made.app.close());
  t.ok(made.app.hasRoute({ method: 'POST', url: '/z' }), 'POST with admin: taken');
});
