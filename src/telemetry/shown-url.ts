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

/**
 * Free text (a message of OpenTelemetry's that may quote a URL it could not use) as arpd logs it: whatever sits
 * between a scheme's `//` and the last `@` of the authority (a user and password, or a token given as the user) is
 * replaced by `***`. Pure.
 */
export function shownText(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/?#'"`<>]*@/gi, '$1***@');
}
