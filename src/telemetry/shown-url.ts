/**
 * A URL as arpd shows it (status, log lines, messages): a password in it (`http://user:secret@host`, which the
 * OTLP exporter sends as Basic auth) is replaced by `***`, so a collector's credentials reach no log and no reader
 * of the status. Pure.
 */
export function shownUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // not a URL: hide whatever sits between '//' and the last '@' before the path
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
  }
  if (u.password === '') return url;
  u.password = '***';
  return u.href;
}
