import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The folder import rules (each folder's README says the same in words; test/lint/boundaries.test.ts
 * shows a wrong import failing). A folder may import only the folders listed for it; `types` may be
 * imported for their types only (`import type`). Node built-ins are allowed where `node` says so.
 */
const FOLDERS = ['errors', 'ids', 'system', 'config', 'schemas', 'protocol', 'events', 'projections', 'policy', 'commands', 'bus',
  'runtime-client', 'instances', 'runs', 'features', 'server', 'daemon', 'client', 'cli', 'runtime', 'store-postgres', 'telemetry', 'retention', 'cluster'];

const RULES = {
  errors: { allow: [] },
  ids: { allow: ['errors'] },
  system: { allow: ['errors'] },
  config: { allow: ['errors', 'ids'] },
  schemas: { allow: ['errors'] },
  protocol: { allow: ['errors'] },
  events: { allow: ['errors', 'ids', 'system', 'config'] },
  projections: { allow: ['events'] },
  policy: { allow: ['errors', 'ids', 'events', 'projections', 'instances/exec-config', 'config'], node: [] },
  commands: { allow: ['errors', 'ids', 'events', 'projections', 'policy', 'schemas', 'instances/exec-config', 'telemetry/trace-context'], node: ['node:crypto'] },
  bus: { allow: ['errors', 'events', 'projections', 'commands'], node: [] },
  'runtime-client': { allow: ['errors', 'policy', 'schemas'] },
  instances: { allow: ['errors', 'ids', 'system', 'config', 'events', 'projections', 'policy', 'schemas', 'runtime-client'], types: ['commands', 'daemon'] },
  runs: { allow: ['errors', 'ids', 'events', 'projections', 'policy', 'schemas', 'runtime-client', 'telemetry/trace-context'], types: ['commands', 'daemon'] },
  features: { allow: ['errors', 'ids', 'config', 'events', 'projections', 'policy', 'schemas', 'commands', 'instances/exec-config', 'retention/replay-start', 'version'], types: ['daemon', 'server'] },
  server: { allow: ['errors', 'ids', 'config', 'schemas', 'protocol', 'policy', 'events/catch-up', 'events/event-store', 'events/trace-line', 'events/envelope', 'telemetry/trace-context'], types: ['features'] },
  client: { allow: ['errors', 'ids', 'protocol', 'config', 'version'], types: ['schemas', 'events/envelope', 'events/trace-line'] },
  runtime: { allow: ['errors', 'ids', 'schemas'] },
  telemetry: { allow: ['errors', 'events', 'projections'], types: ['daemon'] },
  retention: { allow: ['errors', 'ids', 'events', 'projections'], types: ['daemon'] },
  'store-postgres': { allow: ['errors', 'events', 'version'] },
  cluster: { allow: ['errors', 'ids', 'system', 'events', 'projections', 'policy'], types: ['daemon'] },
};

function boundary(folder, rule) {
  const others = FOLDERS.filter((f) => f !== folder);
  const allowed = new Set(rule.allow);
  const patterns = [];
  for (const f of others) {
    if (allowed.has(f)) continue;
    const fileExceptions = [...rule.allow, ...(rule.types ?? [])].filter((a) => a.startsWith(`${f}/`)).map((a) => `!../${a}.js`);
    const group = [`../${f}/*`, ...fileExceptions];
    if ((rule.types ?? []).includes(f)) {
      patterns.push({ group, allowTypeImports: true, message: `src/${folder} may import src/${f} for types only (see src/${folder}/README.md)` });
    } else {
      patterns.push({ group, message: `src/${folder} must not import src/${f} (see src/${folder}/README.md)` });
    }
  }
  if (rule.node !== undefined) {
    patterns.push({ group: ['node:*', ...rule.node.map((n) => `!${n}`)], message: `src/${folder} is pure: no I/O (see src/${folder}/README.md)` });
  }
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
  };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', 'test/lint/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...Object.entries(RULES).map(([folder, rule]) => boundary(folder, rule)),
  {
    // only the event folder and the bus touch the store's writer
    files: ['src/**/*.ts'],
    ignores: ['src/events/**', 'src/bus/**', 'src/daemon/**', 'src/store-postgres/**'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.property.name='append'][callee.object.name=/store/i]",
        message: 'only src/events and the command bus append to the event store: send a command through the bus',
      }, {
        selector: "CallExpression[callee.property.name='append'][callee.object.property.name=/store/i]",
        message: 'only src/events and the command bus append to the event store: send a command through the bus',
      }],
    },
  },
  {
    files: ['bin/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['../src/*', '!../src/cli', '!../src/version.js'], message: 'bin/ is cac and nothing else: it imports the handlers in src/cli (see bin/README.md)' }] }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
