import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { checkId } from '../ids/id-rules.js';
import type { ResolvedGlobals } from './global-options.js';
import { out, writeStdout } from './output.js';

/** `arpd instances logs <id> [-f]`: reads `<data-dir>/instances/<id>/{stdout,stderr}.log` directly. */
export async function instanceLogs(g: ResolvedGlobals, id: string, o: { follow: boolean; stdout: boolean; stderr: boolean }): Promise<number> {
  checkId('instance id', id, 'instance_id');
  const dir = join(g.paths.instances, id);
  if (!existsSync(dir)) throw new ArpdError('E_NOT_FOUND', `no logs for instance '${id}' in ${g.paths.instances}: see 'arpd instances list --all'`, { instance_id: id });
  const files = [...(o.stdout ? ['stdout.log'] : []), ...(o.stderr ? ['stderr.log'] : [])].map((n) => join(dir, n));
  const offsets = new Map<string, number>();
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    if (files.length > 1 && text !== '') out(`==> ${f} <==`);
    writeStdout(text);
    offsets.set(f, Buffer.byteLength(text));
  }
  if (!o.follow) return 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    for (const f of files) {
      let size: number;
      try { size = statSync(f).size; } catch { continue; }
      let from = offsets.get(f) ?? 0;
      if (size < from) from = 0; // capped and restarted
      if (size === from) continue;
      writeStdout(readFileSync(f).subarray(from, size));
      offsets.set(f, size);
    }
  }
}
