/**
 * A quick check of the common shape of an ARP `RunEvent`, the one payload arpd validates per trace line (thousands a
 * second from one runtime). ajv's `date-time` format alone (a split, two regex matches, date arithmetic) costs more than
 * the rest of the validation.
 *
 * The check is one-sided: `true` only when ajv would accept the value too; `false` means "not the common shape", and
 * the caller asks ajv, which accepts it or says why not (so every refusal, and its message, is ajv's). It accepts:
 * an object with only the RunEvent fields; `run_id` a string; `seq` an integer >= 0; `type` one of the event types;
 * `time` an RFC 3339 date-time `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` with a real date, hours <= 23, minutes and
 * seconds <= 59 (a leap second goes to ajv); `data` an object; `extensions` an object with namespaced keys.
 */

const EVENT_TYPES = new Set(['token', 'step', 'tool_call', 'tool_result', 'final', 'error']);
const EXTENSION_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]*\.[A-Za-z0-9_.-]+$/;
const DATE_TIME = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])[Tt](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)$/;
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const digit = (s: string, i: number): number => s.charCodeAt(i) - 0x30;

/** RFC 3339 date-time in its usual form, the day checked against its month (Feb 29 in leap years only). */
export function isCommonDateTime(s: string): boolean {
  if (!DATE_TIME.test(s)) return false;
  const day = digit(s, 8) * 10 + digit(s, 9);
  if (day <= 28) return true;
  const month = digit(s, 5) * 10 + digit(s, 6);
  if (month !== 2) return day <= (DAYS[month] as number);
  const year = digit(s, 0) * 1000 + digit(s, 1) * 100 + digit(s, 2) * 10 + digit(s, 3);
  return day === 29 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** True only when `value` is a RunEvent of the common shape (and so valid); false: ask ajv. */
export function isCommonRunEvent(value: unknown): boolean {
  if (!isObject(value)) return false;
  let required = 0;
  // for-in, as ajv's own additionalProperties loop: inherited enumerable keys count too
  for (const key in value) {
    const v = value[key];
    switch (key) {
      case 'run_id':
        if (typeof v !== 'string') return false;
        required++;
        break;
      case 'seq':
        if (!Number.isSafeInteger(v) || (v as number) < 0) return false;
        required++;
        break;
      case 'type':
        if (typeof v !== 'string' || !EVENT_TYPES.has(v)) return false;
        required++;
        break;
      case 'time':
        if (typeof v !== 'string' || !isCommonDateTime(v)) return false;
        required++;
        break;
      case 'data':
        if (!isObject(v)) return false;
        break;
      case 'extensions':
        if (!isObject(v)) return false;
        for (const k in v) if (!EXTENSION_KEY.test(k)) return false;
        break;
      default:
        return false;
    }
  }
  return required === 4;
}
