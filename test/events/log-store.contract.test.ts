/**
 * The EventStore port's contract (test/helpers/event-store-contract.ts), held by the JSONL log store: the same
 * rules the PostgreSQL store is held to (the rules that need a second process or a fault injector skip here).
 */
import t from 'tap';
import { LogStore } from '../../src/events/log-store.js';
import { eventStoreContract } from '../helpers/event-store-contract.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';

t.test('the EventStore contract holds for the JSONL log', async (t) => {
  // the suite closes the stores it opens; their data dirs (on tmpfs) are removed here
  const dirs: string[] = [];
  t.teardown(() => { for (const d of dirs) removeDir(d); });
  eventStoreContract(t, {
    open: async () => {
      const root = tempDir('contract');
      dirs.push(root);
      return LogStore.open({ root });
    },
  });
});
