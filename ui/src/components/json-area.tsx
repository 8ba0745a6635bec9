/**
 * A textarea for JSON that refuses text larger than the daemon takes, pasted or put there any other way (the
 * page stays responsive and says why), and a parser that names the line and column of a syntax error.
 */
import { formatBytes, MAX_BODY_BYTES } from '../api.js';
import { described } from './common.js';

export function parseJsonField(text: string, what: string): { value?: unknown; error?: string } {
  if (text.trim() === '') return {};
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position (\d+)/.exec(msg);
    let where = '';
    if (pos !== null) {
      const before = text.slice(0, Number(pos[1]));
      const line = before.split('\n').length;
      const col = before.length - before.lastIndexOf('\n');
      where = ` at line ${line}, column ${col}`;
    }
    return { error: `${what} is not valid JSON${where}: ${msg.replace(/^JSON\.parse: /, '').replace(/ in JSON at position.*$/, '')}. Check the quotes, commas and brackets.` };
  }
}

export interface JsonAreaProps {
  id: string;
  value: string;
  error: string | undefined;
  rows?: number;
  onInput(v: string): void;
  onRefused(message: string): void;
  hint?: boolean;
  placeholder?: string;
}

export function JsonArea(p: JsonAreaProps) {
  const onPaste = (e: ClipboardEvent): void => {
    const text = e.clipboardData?.getData('text/plain') ?? '';
    const el = e.target as HTMLTextAreaElement;
    const after = el.value.length - (el.selectionEnd - el.selectionStart) + text.length;
    if (after > MAX_BODY_BYTES) {
      e.preventDefault();
      p.onRefused(`The paste was refused: it is ${formatBytes(new TextEncoder().encode(text).length)}, and the daemon takes at most ${formatBytes(MAX_BODY_BYTES)} per request. Paste something smaller.`);
    }
  };
  return (
    <textarea
      {...described(p.id, p.error, p.hint === true)}
      class="code"
      rows={p.rows ?? 8}
      spellcheck={false}
      value={p.value}
      placeholder={p.placeholder}
      onPaste={onPaste}
      onInput={(e) => {
        const el = e.target as HTMLTextAreaElement;
        if (el.value.length > MAX_BODY_BYTES) {
          // typed, dropped or set some other way: put the old text back before the page lays 10 MB out
          const size = formatBytes(new TextEncoder().encode(el.value).length);
          el.value = p.value;
          p.onRefused(`That text was refused: it is ${size}, and the daemon takes at most ${formatBytes(MAX_BODY_BYTES)} per request. Use something smaller.`);
          return;
        }
        p.onInput(el.value);
      }}
    />
  );
}
