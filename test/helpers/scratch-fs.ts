/**
 * Small filesystems a fault test makes, breaks and removes (the tests run as root):
 *
 * - `tmpfsDisk`: a tmpfs of a few MiB, for a disk that fills up (`fill()` writes a ballast file until ENOSPC,
 *   `free()` removes it).
 * - `ext4Disk`: an ext4 image on a loop device mounted `errors=remount-ro`, for a disk that turns read-only under
 *   open files: `makeReadOnly()` triggers an ext4 error through sysfs (`trigger_fs_error`), and from then on every
 *   write, through files already open too, fails with EROFS, as when a real disk fails. (`mount -o remount,ro` is
 *   refused with EBUSY while a daemon holds its log open for writing, so it cannot break a running daemon.)
 *   `restore()` brings it back read-write: every process holding a file there is killed, it is unmounted, checked
 *   (`e2fsck -fy`) and mounted again.
 *
 * Each disk is mounted on `<base>/fs` inside a temp dir of the harness, so the harness finds and stops the daemons
 * and runtimes using it. At teardown (which tap runs before the harness's, being registered after it) the processes
 * holding files there are killed (they can only be ones the test started: the mount is the test's own), the
 * disk is unmounted (lazily if it is still busy), and at process exit a lazy unmount runs as a last resort.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { TeardownHost } from './daemon-harness.js';

export interface ScratchDisk {
  /** Where the disk is mounted (a data dir goes in a folder of it). */
  readonly mountPoint: string;
  /** Bytes an unprivileged writer could still write. */
  freeBytes(): number;
  /** Writes a ballast file until the disk is full (ENOSPC), leaving at most `leaveBytes` free. */
  fill(leaveBytes?: number): void;
  /** Removes the ballast. */
  free(): void;
  /** Processes with a file, cwd or mapping on the disk. */
  holders(): number[];
}

export interface Ext4Disk extends ScratchDisk {
  /** Turns the mounted disk read-only under its open files: every later write fails with EROFS. */
  makeReadOnly(): void;
  /** Is it read-only now? */
  readOnly(): boolean;
  /** Kills the processes holding files on it, unmounts, runs e2fsck -fy and mounts it read-write again. */
  restore(): void;
}

const mounted = new Set<string>();
let exitHookSet = false;

function lazyUnmountAll(): void {
  for (const m of mounted) {
    try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* already gone */ }
  }
  mounted.clear();
}

function mountSource(mountPoint: string): { source: string; options: string } | undefined {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [source, target, , options] = line.split(' ');
    if (target === mountPoint && source !== undefined) return { source, options: options ?? '' };
  }
  return undefined;
}

/** Pids with an open file, a cwd or a root on `dir` (read from /proc). */
export function holdersOf(dir: string): number[] {
  const out: number[] = [];
  const inside = (p: string): boolean => p === dir || p.startsWith(`${dir}/`);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    let holds = false;
    try {
      for (const link of ['cwd', 'root']) if (inside(readlinkSync(`/proc/${pid}/${link}`))) holds = true;
      if (!holds) {
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          try {
            if (inside(readlinkSync(`/proc/${pid}/fd/${fd}`))) { holds = true; break; }
          } catch { /* closed meanwhile */ }
        }
      }
    } catch { /* gone, or not ours to read */ }
    if (holds) out.push(pid);
  }
  return out;
}

function killHolders(dir: string): void {
  for (let i = 0; i < 50; i++) {
    const pids = holdersOf(dir);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    execFileSync('sleep', ['0.1']);
  }
}

/** Unmounts `mountPoint` cleanly within `tries` tenths of a second (killing what holds it); false if it stayed busy. */
function unmountCleanly(mountPoint: string, tries: number): boolean {
  for (let i = 0; i < tries; i++) {
    killHolders(mountPoint);
    try {
      execFileSync('umount', [mountPoint], { stdio: 'pipe' });
      mounted.delete(mountPoint);
      return true;
    } catch {
      execFileSync('sleep', ['0.1']);
    }
  }
  return false;
}

function unmount(mountPoint: string): void {
  if (unmountCleanly(mountPoint, 20)) return;
  execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
  mounted.delete(mountPoint);
}

/** The loop devices `image` is attached to (`losetup -j`). */
function loopsOf(image: string): string[] {
  return execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).split('\n').filter((l) => l !== '').map((l) => l.split(':')[0] ?? l);
}

function track(t: TeardownHost, mountPoint: string): void {
  mounted.add(mountPoint);
  if (!exitHookSet) {
    exitHookSet = true;
    process.once('exit', lazyUnmountAll);
  }
  t.teardown(() => { if (mounted.has(mountPoint)) unmount(mountPoint); });
}

function diskOps(mountPoint: string): ScratchDisk {
  const ballast = join(mountPoint, 'ballast');
  const freeBytes = (): number => {
    const s = statfsSync(mountPoint);
    return s.bavail * s.bsize;
  };
  return {
    mountPoint,
    freeBytes,
    fill(leaveBytes = 0) {
      const fd = openSync(ballast, 'a', 0o600);
      try {
        const big = Buffer.alloc(64 * 1024, 0x61);
        for (const chunk of [big, big.subarray(0, 4096), big.subarray(0, 1)]) {
          for (;;) {
            if (freeBytes() <= leaveBytes) return;
            try {
              writeSync(fd, chunk);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free() {
      rmSync(ballast, { force: true });
    },
    holders: () => holdersOf(mountPoint),
  };
}

/** A tmpfs of `sizeBytes` mounted on `<base>/fs` (mode 0700). */
export function tmpfsDisk(t: TeardownHost, base: string, sizeBytes: number): ScratchDisk {
  const mountPoint = join(base, 'fs');
  mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'arpd-test', mountPoint], { stdio: 'pipe' });
  track(t, mountPoint);
  return diskOps(mountPoint);
}

/** An ext4 image of `sizeBytes` in `<base>/disk.img`, mounted on `<base>/fs` with errors=remount-ro. */
export function ext4Disk(t: TeardownHost, base: string, sizeBytes: number): Ext4Disk {
  let image = join(base, 'disk.img');
  let copies = 0;
  const mountPoint = join(base, 'fs');
  mkdirSync(mountPoint, { recursive: true, mode: 0o700 });
  execFileSync('truncate', ['-s', String(sizeBytes), image]);
  // no reserved blocks: "full" means full for everyone
  execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', image], { stdio: 'pipe' });
  const mount = (): void => {
    execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, mountPoint], { stdio: 'pipe' });
    mounted.add(mountPoint); // before anything that can fail, so teardown unmounts it
    execFileSync('chmod', ['0700', mountPoint]);
  };
  mount();
  track(t, mountPoint);
  const ops = diskOps(mountPoint);
  const sysfs = (): string => {
    const src = mountSource(mountPoint)?.source;
    if (src === undefined || !src.startsWith('/dev/')) throw new Error(`${mountPoint} is not mounted from a device`);
    return join('/sys/fs/ext4', src.slice('/dev/'.length));
  };
  return {
    ...ops,
    makeReadOnly() {
      execFileSync('sh', ['-c', 'printf %s "$1" > "$2"', 'sh', 'arpd fault test: read-only disk', join(sysfs(), 'trigger_fs_error')]);
    },
    readOnly() {
      const options = mountSource(mountPoint)?.options.split(',') ?? [];
      return options.includes('ro') || options.includes('emergency_ro');
    },
    restore() {
      // never lazily: a lazily unmounted disk keeps its superblock (read-only after the error) and its loop device,
      // and `mount -o loop` of the same image reuses that device and gets the read-only superblock back
      if (!unmountCleanly(mountPoint, 200)) {
        throw new Error(`${mountPoint} stayed busy for 20 s, held by ${holdersOf(mountPoint).map((pid) => { try { return `${pid} (${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120)})`; } catch { return String(pid); } }).join(', ') || 'no process found in /proc'}`);
      }
      for (let i = 0; i < 20 && loopsOf(image).length > 0; i++) execFileSync('sleep', ['0.1']);
      if (loopsOf(image).length > 0) {
        // the superblock lives on elsewhere: a process in another mount namespace (e.g. `ip netns exec` of a test
        // running meanwhile) holds a copy of this mount. Mount a copy of the image instead: a new loop device, a new
        // superblock. What was synced before the fault is in the image, and the copy carries it.
        execFileSync('sync');
        const copy = join(base, `disk-${++copies}.img`);
        execFileSync('cp', ['--sparse=always', image, copy]);
        image = copy;
      }
      try {
        execFileSync('e2fsck', ['-fy', image], { stdio: 'pipe' });
      } catch (err) {
        // 1: errors were corrected, 2: corrected and a reboot is advised (not for an image); more is a failure
        const status = (err as { status?: number }).status ?? 8;
        if (status > 2) throw err;
      }
      mount();
    },
  };
}
