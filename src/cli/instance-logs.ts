import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { checkId } from '../ids/id-rules.js';
import type { ResolvedGlobals } from './global-options.js';
import { out, writeStdout } from './output.js';

type Stream = 'stdout' | 'stderr';

/**
 * Prints the lines of `buf` as NDJSON, one `{"instance_id", "stream", "line"}` object a line (the line without its
 * newline), and returns how many bytes it printed: all of them when `whole`, else up to the last newline (a line still
 * being written waits for its end).
 */
function printJsonLines(instanceId: string, stream: Stream, buf: Buffer, whole: boolean): number {
  const end = whole ? buf.length : buf.lastIndexOf(0x0a) + 1;
  if (end === 0) return 0;
  const lines = buf.subarray(0, end).toString('utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  let text = '';
  for (const line of lines) text += `${JSON.stringify({ instance_id: instanceId, stream, line })}\n`;
  writeStdout(text);
  return end;
}

/**
 * `arpd instances logs <id> [-f]`: reads `<data-dir>/instances/<id>/{stdout,stderr}.log` directly. With `--json`, each
 * line is one JSON object on its own line (NDJSON, as `arpd events --json` and `arpd runs trace --json` print):
 * `{"instance_id", "stream": "stdout"|"stderr", "line"}`; with `-f` a line is printed once it ends.
 */
export async function instanceLogs(g: ResolvedGlobals, id: string, o: { follow: boolean; stdout: boolean; stderr: boolean }): Promise<number> {
  checkId('instance id', id, 'instance_id');
  const dir = join(g.paths.instances, id);
  if (!existsSync(dir)) throw new ArpdError('E_NOT_FOUND', `no logs for instance '${id}' in ${g.paths.instances}: see 'arpd instances list --all'`, { instance_id: id });
  const files = [...(o.stdout ? ['stdout' as const] : []), ...(o.stderr ? ['stderr' as const] : [])].map((stream) => ({ stream, path: join(dir, `${stream}.log`) }));
  const offsets = new Map<string, number>();
  for (const { stream, path } of files) {
    if (!existsSync(path)) continue;
    const buf = readFileSync(path);
    if (g.json) {
      offsets.set(path, printJsonLines(id, stream, buf, !o.follow));
      continue;
    }
    if (files.length > 1 && buf.length > 0) out(`==> ${path} <==`);
    writeStdout(buf);
    offsets.set(path, buf.length);
  }
  if (!o.follow) return 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    for (const { stream, path } of files) {
      let size: number;
      try { size = statSync(path).size; } catch { continue; }
      let from = offsets.get(path) ?? 0;
      if (size < from) from = 0; // capped and restarted
      if (size === from) continue;
      const buf = readFileSync(path).subarray(from, size);
      if (g.json) {
        offsets.set(path, from + printJsonLines(id, stream, buf, false));
      } else {
        writeStdout(buf);
        offsets.set(path, size);
      }
    }
  }
}
