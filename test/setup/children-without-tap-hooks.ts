/**
 * Loaded into every test process (`.taprc` node-arg, after tap's own hooks). tap's process-info hook
 * puts itself into every node child a test starts (daemons, CLI runs, runtimes: thousands per suite),
 * through NODE_OPTIONS and a spawn listener, at ~0.3 s of CPU per child. Coverage is off, so nothing
 * reads what it records: children start without it. A test that sets NODE_OPTIONS for a child still
 * passes its own.
 */
const spawnHooks = (globalThis as Record<symbol, { listeners?: unknown[] } | undefined>)[Symbol.for('process-on-spawn@*:singletonId')];
if (spawnHooks?.listeners !== undefined) spawnHooks.listeners.length = 0;

const kept = (process.env['NODE_OPTIONS'] ?? '')
  .split(/\s+/)
  .filter((o) => o !== '' && !o.includes('@tapjs/processinfo'));
if (kept.length === 0) delete process.env['NODE_OPTIONS'];
else process.env['NODE_OPTIONS'] = kept.join(' ');
