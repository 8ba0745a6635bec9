/** Two lowercase hex digits per byte value: a lookup is a quarter of the cost of `toString(16)` + `padStart`. */
export const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** 8 lowercase hex digits of a 32-bit unsigned value. */
export function hex8(n: number): string {
  return (HEX2[n >>> 24] as string) + (HEX2[(n >>> 16) & 0xff] as string) + (HEX2[(n >>> 8) & 0xff] as string) + (HEX2[n & 0xff] as string);
}
