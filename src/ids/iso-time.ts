import { ArpdError } from '../errors/index.js';

/**
 * ISO-8601 times given by a person (`arpd runs prune --before`, `arpd log replay --until`), read strictly: a date
 * (`2026-01-31`, midnight UTC) or a date and time with a zone (`2026-01-31T12:00:00Z`, `…+02:00`). `Date.parse` alone
 * reads `2026-02-30` as March 2 and `2026-01-01 junk` as some other day, which for a prune deletes runs not asked for.
 */

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))$/;

/** The time in ms since the epoch, or undefined when `text` is not such a time (or names no real day or hour). */
export function parseIsoTime(text: string): number | undefined {
  const m = DATE.exec(text) ?? DATE_TIME.exec(text);
  if (m === null) return undefined;
  const [y, mo, d, h = 0, mi = 0, s = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => (x === undefined ? undefined : Number(x))) as number[];
  const day = new Date(Date.UTC(y as number, (mo as number) - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== (mo as number) - 1 || day.getUTCDate() !== d) return undefined;
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const zh = m[9] === undefined ? 0 : Number(m[9]);
  const zm = m[10] === undefined ? 0 : Number(m[10]);
  if (zh > 23 || zm > 59) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}

/** `parseIsoTime`, or `E_VALIDATION` saying what is taken. */
export function checkIsoTime(text: string, field: string, data: Record<string, unknown> = {}): number {
  const t = parseIsoTime(text);
  if (t === undefined) {
    throw new ArpdError('E_VALIDATION', `${field} takes an ISO-8601 date or a time with its zone (e.g. 2026-01-31 or 2026-01-31T12:00:00Z), not '${text.slice(0, 60)}'`, { field, ...data });
  }
  return t;
}
