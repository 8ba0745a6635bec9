// Local install sources of the pip and npm drivers (a wheel, an sdist, a project folder, an npm package folder or
// .tgz): the absolute path a spec names, resolved at install time against the daemon's working directory as JARVIS
// does, and what is at that path now (its identity), so that the install cache key changes when the file does: a wheel
// rebuilt at the same path is installed again, an unchanged one is not.
//
// Identity: a file is its size and sha256; a folder is the relative path, size and mtime of every file in it (symlinks
// by their target, not followed), skipping VCS folders, caches and what a build writes into the source tree.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArpdError } from '../errors/index.js';
import { isRelativeSpecPath, pipSource } from './exec-config.js';

export type SourceIdentity =
  | { kind: 'file'; size: number; sha256: string }
  | { kind: 'dir'; files: number; digest: string };

export interface LocalSource {
  /** The absolute path the spec names. */
  path: string;
  /** The spec to hand to the installer: relative paths made absolute (the installer runs in the install dir). */
  installSpec: string;
  identity: SourceIdentity;
}

/** Folders never part of a source's identity. */
const SKIP_ALWAYS = new Set(['.git', '.hg', '.svn', '__pycache__', '.mypy_cache', '.pytest_cache', '.ruff_cache', '.tox', '.nox', '.venv', 'venv', 'node_modules']);
/** What pip's in-tree build writes into a Python project. */
const SKIP_PIP = new Set(['build', '.eggs']);

const skipPip = (name: string): boolean => SKIP_ALWAYS.has(name) || SKIP_PIP.has(name) || name.endsWith('.egg-info');
const skipNpm = (name: string): boolean => SKIP_ALWAYS.has(name);

function missing(spec: string, path: string, cwd: string, field: string): ArpdError {
  const how = isRelativeSpecPath(spec) ? ` (${spec} resolved against the daemon's working directory ${cwd})` : '';
  return new ArpdError('E_INSTALL_FAILED', `${field} ${spec} names ${path}${how}, which does not exist: fix the path in the profile, or build the package first`, {
    log: null,
    exit_code: null,
    tail: '',
    path,
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function fileIdentity(path: string, size: number): Promise<SourceIdentity> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { kind: 'file', size, sha256: hash.digest('hex') };
}

async function dirIdentity(root: string, skip: (name: string) => boolean): Promise<SourceIdentity> {
  const hash = createHash('sha256');
  let files = 0;
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const full = join(dir, name);
      const at = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(full);
      if (st.isDirectory()) {
        if (!skip(name)) await walk(full, at);
      } else if (st.isSymbolicLink()) {
        hash.update(`l\0${at}\0${await readlink(full)}\n`);
        files++;
      } else if (st.isFile()) {
        hash.update(`f\0${at}\0${st.size}\0${st.mtimeMs}\n`);
        files++;
      }
    }
  };
  await walk(root, '');
  return { kind: 'dir', files, digest: hash.digest('hex') };
}

/** The identity of what is at `path` now (a file or a folder). */
export async function sourceIdentity(path: string, driver: 'pip' | 'npm'): Promise<SourceIdentity> {
  const st = await stat(path);
  if (st.isDirectory()) return dirIdentity(path, driver === 'pip' ? skipPip : skipNpm);
  return fileIdentity(path, st.size);
}

function fromFileUrl(url: string, spec: string, field: string): string {
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw new ArpdError('E_INSTALL_FAILED', `${field} ${spec}: ${url} is not a local file URL (${(err as Error).message}): write file:///abs/path`, { log: null, exit_code: null, tail: '' });
  }
}

/**
 * The local source a checked pip spec installs from, or undefined for an index or remote spec (`name==1.2`,
 * `name @ https://…`). A path may carry extras (`./x[extra]`), kept on the install spec.
 */
export async function resolvePipSource(spec: string, cwd: string, field = 'pip_spec'): Promise<LocalSource | undefined> {
  const source = pipSource(spec);
  let path: string;
  let installSpec = spec;
  if (source.kind === 'path') {
    path = resolve(cwd, source.path);
    installSpec = path;
    const extras = /^(.*?)(\[[^\]/]*\])$/.exec(source.path);
    if (!(await exists(path)) && extras !== null) {
      path = resolve(cwd, extras[1] ?? '');
      installSpec = `${path}${extras[2] ?? ''}`;
    }
  } else if (source.kind === 'file-url') {
    path = fromFileUrl(source.url, spec, field);
  } else if (source.url?.startsWith('file:') === true) {
    path = fromFileUrl(source.url, spec, field);
  } else {
    return undefined;
  }
  if (!(await exists(path))) throw missing(spec, path, cwd, field);
  return { path, installSpec, identity: await sourceIdentity(path, 'pip') };
}

/** The local source a checked npm spec installs from (an absolute, `./` or `../` path), or undefined for `name@1.2.3`. */
export async function resolveNpmSource(spec: string, cwd: string, field = 'npm_spec'): Promise<LocalSource | undefined> {
  if (!spec.startsWith('/') && !isRelativeSpecPath(spec)) return undefined;
  const path = resolve(cwd, spec);
  if (!(await exists(path))) throw missing(spec, path, cwd, field);
  return { path, installSpec: path, identity: await sourceIdentity(path, 'npm') };
}
