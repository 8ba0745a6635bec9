import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncPath } from '../events/log-recovery.js';
import { REGISTRY_STATE_VERSION, type RegistryState } from '../projections/registry.js';
import type { ArchiveSnapshotRef, LegacyArchiveIndex } from './run-archive.js';

/**
 * Snapshot files: the projections checkpointed at a seq, so a boot replays only the log after them.
 * `<data-dir>/snapshots/snapshot-<seq>.json`: a header line (format, versions, the log position right after the seq
 * (the file by its first seq, and a byte offset), when it was taken, the body's length and CRC32), then the body (one
 * JSON line). Written to a temp file, fsynced, renamed, and the directory fsynced: a crash leaves either the old
 * snapshots or the new one whole. A snapshot that is torn, fails its checksum, or is of another version is not used
 * (the boot falls back to an older one, or to a full replay, with a warning); the log is always the truth.
 */

export const SNAPSHOT_FORMAT = 'arpd-snapshot';
/** Bumped when the file's layout changes; the registry state inside has its own version too. */
export const SNAPSHOT_VERSION = 1;

export interface SnapshotPosition {
  /** The last event the snapshot holds. */
  seq: number;
  /** The log file that goes on after it (by its first seq) and the byte offset there. */
  fileFirstSeq: number;
  offset: number;
}

export interface SnapshotBody {
  registry: RegistryState;
  /** A reference to the archive's index file (older snapshots: the index itself, base64). */
  archive: ArchiveSnapshotRef | LegacyArchiveIndex;
}

export interface LoadedSnapshot { path: string; position: SnapshotPosition; body: SnapshotBody; takenAt: string; bytes: number }

const NAME = /^snapshot-(\d{12})\.json$/;

export function snapshotName(seq: number): string {
  return `snapshot-${String(seq).padStart(12, '0')}.json`;
}

function crcOf(buf: Buffer): string {
  return (crc32(buf) >>> 0).toString(16).padStart(8, '0');
}

/** Writes a snapshot; resolves once it is durable. Keeps the newest `keep` snapshots (the older one is a fallback). */
export async function writeSnapshot(dir: string, position: SnapshotPosition, body: SnapshotBody, now: Date, keep = 2): Promise<{ path: string; bytes: number }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const text = Buffer.from(`${JSON.stringify(body)}\n`, 'utf8');
  const header = Buffer.from(`${JSON.stringify({ format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, state_version: REGISTRY_STATE_VERSION, position, taken_at: now.toISOString(), body_bytes: text.length, crc32: crcOf(text) })}\n`, 'utf8');
  const path = join(dir, snapshotName(position.seq));
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writev([header, text]);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  fsyncPath(dir, true);
  for (const old of listSnapshots(dir).slice(keep)) rmSync(join(dir, old.name), { force: true });
  return { path, bytes: header.length + text.length };
}

function listSnapshots(dir: string): Array<{ name: string; seq: number }> {
  let names: string[];
  try { names = readdirSync(dir); } catch { return []; }
  return names.map((name) => ({ name, m: NAME.exec(name) })).filter((x) => x.m !== null).map((x) => ({ name: x.name, seq: Number(x.m?.[1]) })).sort((a, b) => b.seq - a.seq);
}

/** The seqs of the snapshots on disk, newest first (valid or not). */
export function listSnapshotSeqs(dir: string): number[] {
  return listSnapshots(dir).map((s) => s.seq);
}

/** Reads one snapshot file; throws a message saying why it cannot be used. */
export function readSnapshot(path: string): LoadedSnapshot {
  const buf = readFileSync(path);
  const nl = buf.indexOf(0x0a);
  if (nl === -1) throw new Error('it has no header line (torn)');
  let h: { format?: unknown; version?: unknown; state_version?: unknown; position?: SnapshotPosition; taken_at?: string; body_bytes?: unknown; crc32?: unknown };
  try {
    h = JSON.parse(buf.toString('utf8', 0, nl)) as typeof h;
  } catch {
    throw new Error('its header is not JSON');
  }
  if (h.format !== SNAPSHOT_FORMAT) throw new Error('it is not an arpd snapshot');
  if (h.version !== SNAPSHOT_VERSION || h.state_version !== REGISTRY_STATE_VERSION) {
    const newer = Number(h.version) > SNAPSHOT_VERSION || Number(h.state_version) > REGISTRY_STATE_VERSION;
    throw new Error(newer
      ? `it was written by a newer arpd (snapshot format ${String(h.version)}/${String(h.state_version)}; this arpd reads ${SNAPSHOT_VERSION}/${REGISTRY_STATE_VERSION}); upgrade arpd to use it`
      : `it is of an older format (${String(h.version)}/${String(h.state_version)})`);
  }
  const body = buf.subarray(nl + 1);
  if (body.length !== h.body_bytes) throw new Error(`its body has ${body.length} bytes, the header says ${String(h.body_bytes)} (torn)`);
  if (crcOf(body) !== h.crc32) throw new Error('its body fails its checksum');
  const p = h.position;
  if (p === undefined || !Number.isSafeInteger(p.seq) || !Number.isSafeInteger(p.fileFirstSeq) || !Number.isSafeInteger(p.offset) || p.seq < 0 || p.offset < 0) {
    throw new Error('it has no valid log position');
  }
  let parsed: SnapshotBody;
  try {
    parsed = JSON.parse(body.toString('utf8')) as SnapshotBody;
  } catch {
    throw new Error('its body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.registry !== 'object' || typeof parsed.archive !== 'object') throw new Error('its body lacks the registry or the archive index');
  return { path, position: p, body: parsed, takenAt: h.taken_at ?? '', bytes: buf.length };
}

/**
 * The usable snapshots, newest first (read lazily: the boot stops at the first that works), with a warning for
 * each one passed over.
 */
export function* usableSnapshots(dir: string, warn: (message: string) => void): Generator<LoadedSnapshot> {
  for (const { name } of listSnapshots(dir)) {
    const path = join(dir, name);
    let snap: LoadedSnapshot;
    try {
      snap = readSnapshot(path);
    } catch (err) {
      warn(`snapshot ${path} is not used: ${(err as Error).message}; the boot uses an older snapshot or replays the whole log`);
      continue;
    }
    yield snap;
  }
}
