import fc from 'fast-check';
import t, { type Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import {
  ARPD_RUNTIME_DEFAULTS,
  checkNpmSpec,
  checkPipSpec,
  EXEC_EXTENSION_KEY,
  pipSource,
  parseArpdRuntimeOptions,
  parseExecConfig,
  parseProcessSettings,
  type ExecConfig,
} from '../../src/instances/exec-config.js';

const F = `extensions["arp.jarvis.exec"]`;

function exec(body: Record<string, unknown>): Record<string, unknown> {
  return { [EXEC_EXTENSION_KEY]: body };
}

function pip(spec: unknown, more: Record<string, unknown> = {}): Record<string, unknown> {
  return exec({ driver: 'pip', pip_spec: spec, entrypoint: 'rt', ...more });
}

function npm(spec: unknown, more: Record<string, unknown> = {}): Record<string, unknown> {
  return exec({ driver: 'npm', npm_spec: spec, entrypoint: 'rt', ...more });
}

/** Asserts E_VALIDATION with data.field (exactly, or matching), a rule, and a message that names the field. */
function refuses(t: Test, fn: () => unknown, field: string | RegExp, message?: RegExp): void {
  try {
    fn();
    t.fail(`expected E_VALIDATION on ${String(field)}`);
  } catch (err) {
    t.ok(err instanceof ArpdError, 'an ArpdError');
    const e = err as ArpdError;
    t.equal(e.code, 'E_VALIDATION');
    const got = String(e.data?.['field']);
    if (typeof field === 'string') t.equal(got, field, `field ${field}`);
    else t.match(got, field);
    t.type(e.data?.['rule'], 'string', 'a rule');
    t.ok(e.message.includes(got), `the message names ${got}: ${e.message}`);
    if (message !== undefined) t.match(e.message, message);
  }
}

t.test('accepts the two JARVIS example profiles as they are', async (t) => {
  const command = {
    runtime_name: 'jarvis-runtime',
    defaults: { tool_registry_url: 'http://127.0.0.1:8081' },
    extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['arp-jarvis-runtime', 'serve', '--port', '{port}'] } },
  };
  t.same(parseExecConfig(command.extensions, 'default'), { driver: 'command', argv: ['arp-jarvis-runtime', 'serve', '--port', '{port}'], env: {} });

  const pipProfile = {
    runtime_name: 'arp-jarvis-runtime',
    extensions: {
      'arp.jarvis.exec': {
        driver: 'pip',
        pip_spec: 'arp-jarvis-runtime @ file:///path/to/JARVIS_Runtime',
        entrypoint: 'arp-jarvis-runtime',
        entrypoint_args: ['serve'],
      },
    },
  };
  t.same(parseExecConfig(pipProfile.extensions, 'jarvis'), {
    driver: 'pip',
    pipSpec: 'arp-jarvis-runtime @ file:///path/to/JARVIS_Runtime',
    entrypoint: 'arp-jarvis-runtime',
    entrypointArgs: ['serve'],
    env: {},
  });
});

t.test('follows JARVIS defaults: driver pip, entrypoint_args omitted, null or [] is ["serve"], trimmed spec and entrypoint', async (t) => {
  const parsed = parseExecConfig(exec({ pip_spec: '  pkg==1.2.3 ', entrypoint: ' rt ' }), 'p');
  t.same(parsed, { driver: 'pip', pipSpec: 'pkg==1.2.3', entrypoint: 'rt', entrypointArgs: ['serve'], env: {} });
  for (const args of [undefined, null, []]) {
    t.same((parseExecConfig(pip('pkg==1', { entrypoint_args: args }), 'p') as Extract<ExecConfig, { driver: 'pip' }>).entrypointArgs, ['serve'], `pip: ${JSON.stringify(args)}`);
    t.same((parseExecConfig(npm('left-pad@1.3.0', { entrypoint_args: args }), 'p') as Extract<ExecConfig, { driver: 'npm' }>).entrypointArgs, ['serve'], `npm, as pip: ${JSON.stringify(args)}`);
  }
  t.same((parseExecConfig(pip('pkg==1', { entrypoint_args: ['run', '-v'] }), 'p') as Extract<ExecConfig, { driver: 'pip' }>).entrypointArgs, ['run', '-v'], 'given args are kept');
});

t.test('keeps argv, placeholders, env and cwd of a command driver; argv is an alias of command_template', async (t) => {
  const parsed = parseExecConfig(
    exec({ driver: 'command', argv: ['{node}', '{arpd_runtime}', '--host={host}', '--port', '{port}'], env: { A_B: 'x', ARP_X: '' }, cwd: '/srv/rt' }),
    'p',
  );
  t.same(parsed, { driver: 'command', argv: ['{node}', '{arpd_runtime}', '--host={host}', '--port', '{port}'], env: { A_B: 'x', ARP_X: '' }, cwd: '/srv/rt' });
  t.same(parseExecConfig(exec({ driver: 'command', command_template: ['x', '{"json": true}'] }), 'p'), { driver: 'command', argv: ['x', '{"json": true}'], env: {} }, 'braces that are no placeholder are kept');
});

t.test('refuses a profile without the exec extension, saying to add a driver', async (t) => {
  for (const extensions of [undefined, null, {}, { other: 1 }]) {
    refuses(t, () => parseExecConfig(extensions, 'webby'), F, /profile webby has no extensions\["arp\.jarvis\.exec"\]: add a driver \(command, pip or npm\)/);
  }
  refuses(t, () => parseExecConfig('nope', 'p'), 'extensions');
  refuses(t, () => parseExecConfig([], 'p'), 'extensions');
  refuses(t, () => parseExecConfig(exec([] as unknown as Record<string, unknown>), 'p'), F);
  refuses(t, () => parseExecConfig({ [EXEC_EXTENSION_KEY]: 'pip' }, 'p'), F);
});

t.test('refuses an unknown driver and a command without a driver', async (t) => {
  refuses(t, () => parseExecConfig(exec({ driver: 'docker', image: 'x' }), 'p'), `${F}.driver`, /use "command", "pip" or "npm"/);
  refuses(t, () => parseExecConfig(exec({ driver: 3 }), 'p'), `${F}.driver`);
  refuses(t, () => parseExecConfig(exec({ command_template: ['rt'] }), 'p'), `${F}.driver`, /add "driver": "command"/);
});

t.test('refuses unknown fields, naming the known ones', async (t) => {
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], shell: true }), 'p'), `${F}.shell`, /use driver, command_template, argv, env, cwd/);
  refuses(t, () => parseExecConfig(pip('pkg==1', { pip_args: ['-U'] }), 'p'), `${F}.pip_args`);
  refuses(t, () => parseExecConfig(npm('a@1.0.0', { pip_spec: 'x==1' }), 'p'), `${F}.pip_spec`);
  refuses(t, () => parseExecConfig(pip('pkg==1', { npm_spec: 'a@1.0.0' }), 'p'), `${F}.npm_spec`);
});

t.test('refuses a command argv that is a string, empty, or not all strings', async (t) => {
  refuses(t, () => parseExecConfig(exec({ driver: 'command', command_template: 'rt serve --port {port}' }), 'p'), `${F}.command_template`, /an argv array, never a shell string/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: 'rt' }), 'p'), `${F}.argv`, /never a shell string/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', command_template: [] }), 'p'), `${F}.command_template`, /is empty/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', command_template: [''] }), 'p'), `${F}.command_template[0]`);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', command_template: ['rt', 8080] }), 'p'), `${F}.command_template[1]`, /must be a string/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', command_template: ['rt', null] }), 'p'), `${F}.command_template[1]`);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', command_template: ['rt', 'a\0b'] }), 'p'), `${F}.command_template[1]`, /NUL/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', command_template: { 0: 'rt' } }), 'p'), `${F}.command_template`);
  refuses(t, () => parseExecConfig(exec({ driver: 'command' }), 'p'), `${F}.command_template`, /is missing/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['a'], command_template: ['a'] }), 'p'), `${F}.argv`, /keep one/);
});

t.test('refuses unknown placeholders, and {node} or {arpd_runtime} inside an argument or outside a command', async (t) => {
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['rt', '--port', '{prot}'] }), 'p'), `${F}.argv[2]`, /unknown placeholder \{prot\}/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['--x={node}'] }), 'p'), `${F}.argv[0]`, /a whole argument/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['{node} {arpd_runtime}'] }), 'p'), `${F}.argv[0]`);
  refuses(t, () => parseExecConfig(pip('pkg==1', { entrypoint_args: ['{node}'] }), 'p'), `${F}.entrypoint_args[0]`, /only a command driver/);
  t.same((parseExecConfig(pip('pkg==1', { entrypoint_args: ['--listen', '{host}:{port}'] }), 'p') as { entrypointArgs: string[] }).entrypointArgs, ['--listen', '{host}:{port}']);
});

t.test('a profile\'s defaults and an instance\'s overrides read env as the exec config does, with the same messages', async (t) => {
  for (const field of ['defaults', 'overrides']) {
    t.same(parseProcessSettings({ env: { A: '1', B_2: '' } }, field).env, { A: '1', B_2: '' }, `${field}: names and values as given`);
    t.same(parseProcessSettings({ args: ['x'] }, field).env, {}, `${field}: no env is none`);
    refuses(t, () => parseProcessSettings({ env: ['A=1'] }, field), `${field}.env`, new RegExp(`^${field}\\.env must be an object of environment variables, name -> string value \\(got an array\\)$`));
    refuses(t, () => parseProcessSettings({ env: { PORT: 8080 } }, field), `${field}.env.PORT`, new RegExp(`^${field}\\.env\\.PORT must be a string \\(got number 8080\\): quote numbers and booleans$`));
    refuses(t, () => parseProcessSettings({ env: { 'A=B': 'x' } }, field), `${field}.env.A=B`, /: "A=B" is not an allowed environment variable name: use letters, digits and '_', not starting with a digit$/);
    refuses(t, () => parseProcessSettings({ env: { A: 'x\u0000y' } }, field), `${field}.env.A`, /contains a NUL character: remove it$/);
    refuses(t, () => parseProcessSettings({ env: { BIG: 'y'.repeat(200_000) } }, field), `${field}.env.BIG`, /one environment variable \(NAME=value\) may have at most 131071/);
  }
  // the exec config's env gives the same messages under its own field
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], env: { A: 'x\u0000y' } }), 'p'), `${F}.env.A`, /contains a NUL character: remove it$/);
});

t.test('refuses bad env and cwd', async (t) => {
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], env: ['A=1'] }), 'p'), `${F}.env`);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], env: { PORT: 8080 } }), 'p'), `${F}.env.PORT`, /quote numbers/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], env: { 'A=B': 'x' } }), 'p'), `${F}.env.A=B`);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], env: { '1A': 'x' } }), 'p'), `${F}.env.1A`);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], cwd: 'rel/dir' }), 'p'), `${F}.cwd`, /absolute/);
  refuses(t, () => parseExecConfig(exec({ driver: 'command', argv: ['x'], cwd: 7 }), 'p'), `${F}.cwd`);
});

t.test('refuses a missing or bad entrypoint', async (t) => {
  refuses(t, () => parseExecConfig(exec({ driver: 'pip', pip_spec: 'pkg==1' }), 'p'), `${F}.entrypoint`, /is missing: name the console script/);
  refuses(t, () => parseExecConfig(exec({ driver: 'npm', npm_spec: 'a@1.0.0' }), 'p'), `${F}.entrypoint`, /name the bin/);
  for (const bad of ['../bin/x', 'bin/x', '-x', '.hidden', '', 'a b', 3]) {
    refuses(t, () => parseExecConfig(pip('pkg==1', { entrypoint: bad }), 'p'), `${F}.entrypoint`);
  }
  refuses(t, () => parseExecConfig(pip('pkg==1', { entrypoint_args: 'serve' }), 'p'), `${F}.entrypoint_args`);
});

t.test('accepts every pip spec form JARVIS accepts and arpd can see is pinned', async (t) => {
  const hash = 'a'.repeat(64);
  const commit = 'b'.repeat(40);
  const rows: Array<[string, string]> = [
    ['pkg==1.2.3', 'an exact version'],
    ['Pkg_Name.x==0.1', 'a PEP 508 name'],
    ['pkg[extra]==1', 'extras'],
    ['pkg[a,b]==2.0.0rc1', 'several extras, a pre-release'],
    ['pkg==1.0.post2.dev3', 'post and dev releases'],
    ['pkg==1!2.0+local.7', 'an epoch and a local version'],
    ['pkg===1.0', 'arbitrary equality (===) is a pin'],
    ['pkg===1.0-custom', 'arbitrary equality takes any string'],
    ['pkg == 1.2.3', 'whitespace around the operator'],
    ['pkg (==1.2.3)', 'the parenthesised form'],
    ['pkg==1.2,<2', 'an exact clause with a range'],
    ['pkg>=1,==1.4', 'a range with an exact clause'],
    ['pkg==1.2 ; python_version >= "3.8"', 'an environment marker'],
    ['pkg==1.2;python_version>"3"', 'a marker without spaces'],
    ['/abs/path/to/project', 'an absolute path'],
    ['/abs/dist/pkg-1.0-py3-none-any.whl', 'an absolute wheel path'],
    ['/abs/my dir/pkg-1.0.tar.gz', 'an absolute path with a space'],
    ['./dist/pkg-1.0-py3-none-any.whl', "a ./ path (relative to the daemon's working directory)"],
    ['../runtime', 'a ../ path'],
    ['./project[extra]', 'a ./ path with extras'],
    ['file:///abs/project', 'a file:// URL'],
    ['file://localhost/abs/project', 'a file://localhost URL'],
    ['name @ file:///abs/project', 'name @ file:// URL'],
    ['name[x]@file:///abs/project', 'extras and no spaces around @'],
    ['name @ file:///abs/x.whl ; python_version >= "3.8"', 'name @ URL with a marker'],
    [`name @ https://example.com/name-1.0.tar.gz#sha256=${hash}`, 'https with a sha256'],
    [`name @ https://example.com/name-1.0.tar.gz#sha512=${'c'.repeat(128)}`, 'https with a sha512'],
    [`name @ http://mirror.local/name-1.0.whl#sha256=${hash}`, 'http with a hash (pip checks it)'],
    [`name @ git+https://github.com/x/y@${commit}`, 'git with a full commit id'],
    [`name @ git+ssh://git@github.com/x/y.git@${commit}#subdirectory=rt`, 'git+ssh with a commit id and a fragment'],
  ];
  for (const [spec, what] of rows) {
    t.equal(checkPipSpec(spec), spec, `${what}: ${spec}`);
  }
  t.equal(checkPipSpec('  pkg==1  '), 'pkg==1', 'trimmed');
});

t.test('says where each pip spec installs from, for the driver to resolve', async (t) => {
  t.same(pipSource('/abs/x.whl'), { kind: 'path', path: '/abs/x.whl' });
  t.same(pipSource('./x[extra]'), { kind: 'path', path: './x[extra]' });
  t.same(pipSource('../x'), { kind: 'path', path: '../x' });
  t.same(pipSource('file:///abs/x'), { kind: 'file-url', url: 'file:///abs/x' });
  t.same(pipSource('name[x] @ file:///abs/x ; python_version>"3"'), { kind: 'requirement', name: 'name', url: 'file:///abs/x' });
  t.same(pipSource('pkg==1'), { kind: 'requirement', name: 'pkg' });
});

t.test('refuses unpinned pip specs, saying how to pin them', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    ['pkg', /is not pinned: add an exact version, e\.g\. 'pkg==1\.2\.3'/],
    ['pkg[x]', /is not pinned/],
    ['pkg ; python_version>"3"', /is not pinned/],
    ['pkg ; python_version == "3.11"', /is not pinned: .*whatever the index offers/],
    ['pkg>=1 ; os_name == "posix"', /version range, not a pin.*whatever release the index offers/],
    ['pkg>=1', /version range, not a pin: add one exact version, e\.g\. 'pkg==1\.2\.3'/],
    ['pkg~=1.0', /version range/],
    ['pkg!=1', /version range/],
    ['pkg>=1,<2', /version range/],
    ['pkg==abc', /'==abc' is not a version clause: use 'pkg==1\.2\.3'/],
    ['', /is empty/],
    ['   ', /is empty/],
    ['.', /write '\.\/' plus the path/],
    ['..', /write '\.\/' plus the path/],
    ['~/local', /'~' is not expanded \(JARVIS refuses it too\): write the absolute path/],
    ['pkg==1 ;', /empty environment marker/],
    ['https://example.com/x.whl', /a URL without a name: write 'name @ <url>'/],
    ['file:/abs/x', /relative file: URL: write file:\/\/\/abs\/path/],
    ['file://host/share/x', /names another host/],
    ['file:///', /has no path/],
    ['-r req.txt', /starts with '-'/],
    ['--index-url=x', /starts with '-'/],
    ['-e .', /starts with '-'/],
    [42, /must be a string/],
    [undefined, /is missing/],
  ];
  for (const [spec, why] of cases) {
    refuses(t, () => parseExecConfig(pip(spec), 'p'), `${F}.pip_spec`, why);
  }
});

t.test('refuses what JARVIS passes on to pip but is not safe, naming the safety reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['pkg==1.*', /wildcard version, which JARVIS accepts but arpd refuses: a wildcard matches every future release/],
    ['pkg==1.*,>=1.2', /wildcard/],
    ['name @ https://example.com/x.tar.gz', /a download without a hash, which JARVIS accepts but arpd refuses: arpd installs a download only when its hash is pinned.*add '#sha256=/],
    ['name @ http://example.com/x.whl', /without a hash/],
    [`name @ https://example.com/x.whl#md5=${'a'.repeat(32)}`, /without a hash/],
    ['name @ git+https://github.com/x/y', /does not name a commit, which JARVIS accepts but arpd refuses: a branch or tag can be moved.*'name @ git\+https:\/\/github\.com\/x\/y@<40-hex commit id>'/],
    ['name @ git+https://github.com/x/y@main', /'name @ git\+https:\/\/github\.com\/x\/y@<40-hex commit id>'/],
    ['name @ git+https://github.com/x/y@abc123', /does not name a commit/],
    ['name @ hg+https://example.com/repo', /uses hg, which JARVIS accepts but arpd refuses: arpd can check a pin only for git/],
    ['name @ ftp://example.com/x.whl', /uses ftp:\/\/, which JARVIS accepts but arpd refuses/],
    ['pkg==1 other==2', /not one requirement: arpd passes the spec to pip as one argument/],
    ['pkg==1 --hash=sha256:abc', /not one requirement/],
    ['name @ file:///a b', /more after the URL: arpd passes the spec to pip as one argument/],
    ['pkg@1.2.3', /after '@' pip needs a URL \(JARVIS would pass it on and pip would fail\).*'pkg==1\.2\.3'/],
    ['name @ file:relative/x', /relative file: URL/],
    ['name @', /nothing after '@'/],
    ['pkg==1\nother==2', /line break/],
  ];
  for (const [spec, why] of cases) {
    refuses(t, () => parseExecConfig(pip(spec), 'p'), `${F}.pip_spec`, why);
  }
});

t.test('accepts pinned npm specs', async (t) => {
  for (const spec of ['left-pad@1.3.0', '@scope/name@1.2.3', 'a@1.0.0-beta.1+build.5', '/abs/dir', '/abs/pkg-1.0.0.tgz', './dir', '../pkg-1.0.0.tgz', '/abs/my dir']) {
    t.equal(checkNpmSpec(spec), spec, spec);
  }
});

t.test('refuses unpinned and unsafe npm specs, each with its reason', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    ['left-pad', /is not pinned: add an exact version/],
    ['@scope/name', /is not pinned/],
    ['left-pad@^1', /range or a tag/],
    ['left-pad@~1.3.0', /range or a tag/],
    ['left-pad@1.x', /range or a tag/],
    ['left-pad@latest', /range or a tag/],
    ['left-pad@*', /range or a tag/],
    ['left-pad@01.2.3', /range or a tag/],
    ['-g', /starts with '-'/],
    ['--global', /starts with '-'/],
    ['git+https://github.com/a/b.git', /git, URL or alias/],
    ['https://registry.example/a.tgz', /git, URL or alias/],
    ['github:a/b', /git, URL or alias/],
    ['npm:left-pad@1.3.0', /git, URL or alias/],
    ['a/b', /not a pinned npm spec/],
    ['~/dir', /'~' is not expanded/],
    ['.', /write a '\.\/' path/],
    ['file:/abs/dir', /write the path itself, without 'file:'/],
    ['a@1.0.0 b@1.0.0', /whitespace/],
    ['Left-Pad@1.0.0', /not a pinned npm spec/],
    ['', /is empty/],
  ];
  for (const [spec, why] of cases) {
    refuses(t, () => parseExecConfig(npm(spec), 'p'), `${F}.npm_spec`, why);
  }
});

t.test('refuses as pip_spec and as npm_spec any string that starts with "-"', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (rest) => {
      for (const check of [checkPipSpec, checkNpmSpec]) {
        try {
          check(`-${rest}`);
          return false;
        } catch (err) {
          if (!(err instanceof ArpdError) || err.code !== 'E_VALIDATION') return false;
        }
      }
      return true;
    }),
  );
  t.pass('no string starting with "-" is accepted');
});

t.test('refuses whatever it refuses with E_VALIDATION and a field, never another error', async (t) => {
  const value = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 5 }), fc.string(), { maxKeys: 3 }));
  fc.assert(
    fc.property(fc.constantFrom('command', 'pip', 'npm', undefined), fc.dictionary(fc.constantFrom('pip_spec', 'npm_spec', 'entrypoint', 'entrypoint_args', 'command_template', 'argv', 'env', 'cwd', 'x'), value), (driver, body) => {
      try {
        parseExecConfig(exec(driver === undefined ? body : { ...body, driver }), 'p');
        return true;
      } catch (err) {
        return err instanceof ArpdError && err.code === 'E_VALIDATION' && typeof err.data?.['field'] === 'string';
      }
    }),
  );
  t.pass();
});

t.test('defaults every arpd.runtime option', async (t) => {
  const defaults = {
    maxConcurrentRuns: 1,
    restart: 'never',
    restartMax: 5,
    restartBackoffMs: 1000,
    healthTimeoutMs: 30000,
    healthIntervalMs: 5000,
    stopGraceMs: 5000,
    maxInstances: 1,
    runTimeoutMs: 0,
  };
  t.same(ARPD_RUNTIME_DEFAULTS, defaults);
  t.same(parseArpdRuntimeOptions(undefined), defaults);
  t.same(parseArpdRuntimeOptions({}), defaults);
  t.same(parseArpdRuntimeOptions({ 'arp.jarvis.exec': { driver: 'pip' } }), defaults);
  t.same(parseArpdRuntimeOptions({ 'arpd.runtime': { max_concurrent_runs: 4, restart: 'on-failure', stop_grace_ms: 0 } }), {
    ...defaults,
    maxConcurrentRuns: 4,
    restart: 'on-failure',
    stopGraceMs: 0,
  });
  t.same(
    parseArpdRuntimeOptions({
      'arpd.runtime': {
        max_concurrent_runs: 1000,
        restart: 'never',
        restart_max: 100,
        restart_backoff_ms: 600000,
        health_timeout_ms: 100,
        health_interval_ms: 3600000,
        stop_grace_ms: 600000,
        max_instances: 100,
        run_timeout_ms: 604800000,
      },
    }),
    { maxConcurrentRuns: 1000, restart: 'never', restartMax: 100, restartBackoffMs: 600000, healthTimeoutMs: 100, healthIntervalMs: 3600000, stopGraceMs: 600000, maxInstances: 100, runTimeoutMs: 604800000 },
    'the bounds are allowed',
  );
});

t.test('refuses arpd.runtime options out of range, of the wrong type, or unknown', async (t) => {
  const R = 'extensions["arpd.runtime"]';
  const cases: Array<[string, unknown, RegExp]> = [
    ['max_concurrent_runs', 0, /whole number from 1 to 1000 \(got number 0\)/],
    ['max_concurrent_runs', 1001, /1 to 1000/],
    ['max_concurrent_runs', 1.5, /whole number/],
    ['max_concurrent_runs', '2', /whole number/],
    ['restart_max', -1, /0 to 100/],
    ['restart_max', 101, /0 to 100/],
    ['restart_backoff_ms', 600001, /0 to 600000/],
    ['health_timeout_ms', 99, /100 to 600000/],
    ['health_interval_ms', 3600001, /100 to 3600000/],
    ['stop_grace_ms', Number.NaN, /whole number/],
    ['max_instances', 0, /1 to 100/],
    ['max_instances', 101, /1 to 100/],
    ['run_timeout_ms', -1, /0 to 604800000/],
    ['stop_grace_ms', true, /whole number/],
    ['restart', 'always', /"never" or "on-failure"/],
    ['restart', null, /"never" or "on-failure"/],
  ];
  for (const [key, value, why] of cases) {
    refuses(t, () => parseArpdRuntimeOptions({ 'arpd.runtime': { [key]: value } }), `${R}.${key}`, why);
  }
  refuses(t, () => parseArpdRuntimeOptions({ 'arpd.runtime': { maxConcurrentRuns: 2 } }), `${R}.maxConcurrentRuns`, /max_concurrent_runs/);
  refuses(t, () => parseArpdRuntimeOptions({ 'arpd.runtime': [] }), R);
  refuses(t, () => parseArpdRuntimeOptions('x'), 'extensions');
});
