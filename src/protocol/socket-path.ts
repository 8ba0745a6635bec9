import { lstatSync, type Stats } from 'node:fs';
import { ArpdError } from '../errors/index.js';

/** sun_path holds 108 bytes on Linux, the last of which is the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** Throws E_VALIDATION if the path does not fit in a Unix socket address. */
export function checkSocketPath(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ArpdError(
      'E_VALIDATION',
      `socket path is ${bytes} bytes, over the ${MAX_SOCKET_PATH_BYTES}-byte limit for Unix sockets: use --socket with a shorter path`,
      { field: 'socketPath', bytes, limit: MAX_SOCKET_PATH_BYTES },
    );
  }
  if (bytes === 0) {
    throw new ArpdError('E_VALIDATION', 'socket path is empty: use --socket with a file path', { field: 'socketPath' });
  }
}

/**
 * Throws E_VALIDATION if something other than a Unix socket (a file, a folder, a symlink) is at the socket path:
 * a stale socket may be removed, anything else is the user's and is never deleted.
 */
export function checkNotOtherFile(socketPath: string): void {
  let st: Stats;
  try {
    st = lstatSync(socketPath);
  } catch {
    return; // nothing there (or nothing we can see: listening will say why)
  }
  if (st.isSocket()) return;
  const what = st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : 'a file';
  throw new ArpdError(
    'E_VALIDATION',
    `socket path '${socketPath}' is ${what}, not a socket: arpd never deletes it; give --socket a path where nothing is (or leave --socket out)`,
    { field: 'socketPath', socketPath },
  );
}
