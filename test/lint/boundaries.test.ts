/**
 * The lint enforces the folder import rules and "only src/events and the bus append to the store": a wrong import or
 * a stray append, linted as if it were a file in src/, fails with the rule's message; the right ones pass.
 */
import { ESLint } from 'eslint';
import { join } from 'node:path';
import t from 'tap';

const root = join(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: root });

async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, file) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? ''}: ${m.message}`);
}

t.test('the client importing the server fails the lint, naming the rule and the README', async (t) => {
  const found = await problems('src/client/bad-import.ts', "import { startSocketServer } from '../server/socket-server.js';\nexport const x = startSocketServer;\n");
  t.match(found.join('\n'), /no-restricted-imports: .*src\/client must not import src\/server \(see src\/client\/README\.md\)/);
});

t.test('a pure folder doing I/O fails the lint', async (t) => {
  const found = await problems('src/policy/bad-io.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n");
  t.match(found.join('\n'), /src\/policy is pure: no I\/O/);
});

t.test('a types-only folder imported for a value fails the lint, and for a type passes', async (t) => {
  const value = await problems('src/runs/bad-value.ts', "import { Daemon } from '../daemon/daemon.js';\nexport const x = Daemon;\n");
  t.match(value.join('\n'), /src\/runs may import src\/daemon for types only/);
  const typeOnly = await problems('src/runs/ok-type.ts', "import type { DaemonContext } from '../daemon/daemon-context.js';\nexport type X = DaemonContext;\n");
  t.same(typeOnly, [], 'a type import is allowed');
});

t.test('appending to the store outside src/events and the bus fails the lint', async (t) => {
  const found = await problems('src/features/bad-append.ts', 'export async function f(store: { append(x: unknown): Promise<void> }): Promise<void> { await store.append([]); }\n');
  t.match(found.join('\n'), /only src\/events and the command bus append to the event store/);
  const inBus = await problems('src/bus/ok-append.ts', 'export async function f(store: { append(x: unknown): Promise<void> }): Promise<void> { await store.append([]); }\n');
  t.same(inBus, [], 'the bus may');
});

t.test('an allowed import passes', async (t) => {
  t.same(await problems('src/features/ok-import.ts', "import { ArpdError } from '../errors/index.js';\nexport const x = ArpdError;\n"), []);
});
