import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncPath } from '../events/log-recovery.js';

/**
 * The run archive's order index in a binary file of its own (`runs/archive-index.bin`), so a snapshot holds only a
 * reference to it (entries + CRC32) and a boot reads it straight into a right-sized typed array (no base64, no copy).
 *
 * Layout: a 24-byte header (8-byte magic `arpd-aix`, u32 LE version, u32 LE entries, u32 LE CRC32 of the payload,
 * u32 LE zero), then the payload: one float64 LE per place in submission order (1 + the byte offset of the run's
 * line in `archive.jsonl`, 0 for a place with no archived run). Written temp + fsync + rename + directory fsync.
 */

export const ARCHIVE_INDEX_FILE = 'archive-index.bin';
export const ARCHIVE_INDEX_VERSION = 1;
const MAGIC = Buffer.from('arpd-aix', 'latin1');
const HEADER_BYTES = 24;

/** What a snapshot records about the index file it was taken with. */
export interface ArchiveIndexRef {
  entries: number;
  crc32: string;
}

function crcOf(bytes: Uint8Array): string {
  return (crc32(bytes) >>> 0).toString(16).padStart(8, '0');
}

/** Writes `offsets` durably to `path`; resolves to the reference a snapshot keeps. */
export async function writeArchiveIndex(path: string, offsets: Float64Array): Promise<ArchiveIndexRef> {
  const payload = new Uint8Array(offsets.buffer, offsets.byteOffset, offsets.byteLength);
  const crc = crcOf(payload);
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(ARCHIVE_INDEX_VERSION, 8);
  header.writeUInt32LE(offsets.length, 12);
  header.writeUInt32LE(Number.parseInt(crc, 16), 16);
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writev([header, payload]);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  fsyncPath(dirname(path), true);
  return { entries: offsets.length, crc32: crc };
}

/**
 * Reads the index file into a new Float64Array of `capacity(entries)` places (the rest zero); throws a message saying
 * why it cannot be used: missing, torn, another format or version, or not the one `expected` (entries, checksum).
 */
export function readArchiveIndex(path: string, expected: ArchiveIndexRef, capacity: (entries: number) => number = (n) => n): Float64Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new Error(`the archive index ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    if (readSync(fd, header, 0, HEADER_BYTES, 0) !== HEADER_BYTES) throw new Error(`the archive index ${path} is torn (no whole header)`);
    if (!header.subarray(0, 8).equals(MAGIC)) throw new Error(`${path} is not an arpd archive index`);
    const version = header.readUInt32LE(8);
    if (version !== ARCHIVE_INDEX_VERSION) {
      throw new Error(version > ARCHIVE_INDEX_VERSION
        ? `the archive index ${path} was written by a newer arpd (index format ${version}; this arpd reads ${ARCHIVE_INDEX_VERSION}); upgrade arpd to use it`
        : `the archive index ${path} is of an older format (${version})`);
    }
    const entries = header.readUInt32LE(12);
    const crc = header.readUInt32LE(16).toString(16).padStart(8, '0');
    if (entries !== expected.entries || crc !== expected.crc32) {
      throw new Error(`the archive index ${path} is not the one the snapshot was taken with (${entries} entries, CRC ${crc}; the snapshot says ${expected.entries}, ${expected.crc32})`);
    }
    const size = fstatSync(fd).size;
    if (size !== HEADER_BYTES + entries * 8) throw new Error(`the archive index ${path} has ${size} bytes, its header says ${HEADER_BYTES + entries * 8} (torn)`);
    const offsets = new Float64Array(Math.max(entries, capacity(entries)));
    const payload = new Uint8Array(offsets.buffer, 0, entries * 8);
    let at = 0;
    while (at < payload.length) {
      const n = readSync(fd, payload, at, payload.length - at, HEADER_BYTES + at);
      if (n === 0) throw new Error(`the archive index ${path} is torn`);
      at += n;
    }
    if (crcOf(payload) !== crc) throw new Error(`the archive index ${path} fails its checksum`);
    return offsets;
  } finally {
    closeSync(fd);
  }
}
