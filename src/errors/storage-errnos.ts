/** What each errno of a write that cannot happen means, and what to do about it. */
const STORAGE_ERRNOS: Readonly<Record<string, readonly [what: string, fix: string]>> = {
  ENOSPC: ['the disk is full', 'free space on it'],
  EDQUOT: ['the disk quota is used up', 'free space or raise the quota'],
  EROFS: ['the file system is read-only', 'make it writable again (remount it read-write, or repair the disk)'],
  EACCES: ['permission denied', 'give the user running arpd write permission on it'],
  EPERM: ['permission denied', 'give the user running arpd write permission on it'],
  EIO: ['an I/O error (a failing disk?)', 'check the disk'],
};

/** What a storage errno means and what to do, or undefined for an errno that is not about the disk. */
export function storageErrno(errno: string | undefined): { what: string; fix: string } | undefined {
  const known = errno === undefined ? undefined : STORAGE_ERRNOS[errno];
  return known === undefined ? undefined : { what: known[0], fix: known[1] };
}
