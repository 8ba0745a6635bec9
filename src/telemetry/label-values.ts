/**
 * Label values kept bounded: a series per value is memory in arpd and in every scraper, so a label never takes
 * a value a client can multiply (a run id, a message, a URL). Profile names are chosen by admins and are few,
 * but nothing stops ten thousand: past a cap, new ones share one value. Error codes come from arpd's table or
 * from a runtime's error (free text): a code that is not one of arpd's counts as `other`.
 */
import { ERROR_CODES } from '../errors/index.js';

/** The label value of a run that names no profile and reached no instance. */
const NO_PROFILE = 'none';
/** The label value past the cap. */
const OTHER = 'other';
const DEFAULT_PROFILE_CAP = 100;

/** Profile names as label values: the first `cap` distinct names seen keep their own series, later ones are `other`. */
export class ProfileLabels {
  private readonly admitted = new Set<string>();

  constructor(private readonly cap = DEFAULT_PROFILE_CAP) {}

  of(profile: string | undefined): string {
    if (profile === undefined || profile === '') return NO_PROFILE;
    if (this.admitted.has(profile)) return profile;
    if (this.admitted.size >= this.cap) return OTHER;
    this.admitted.add(profile);
    return profile;
  }

  /** Distinct names admitted so far. */
  get size(): number {
    return this.admitted.size;
  }
}

const CODES: ReadonlySet<string> = new Set(Object.keys(ERROR_CODES));

/** An error code as a label value: one of arpd's stable codes, or `other`. */
export function codeLabel(code: string | undefined): string {
  if (code === undefined || code === '') return 'none';
  return CODES.has(code) ? code : OTHER;
}
