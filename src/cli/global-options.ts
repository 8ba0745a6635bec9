import { dataPaths, resolveDataDir, type DataPaths } from '../config/data-dir.js';

/** The options every command takes. */
export interface GlobalOptions {
  dataDir?: string;
  socket?: string;
  autostart?: boolean;
  json?: boolean;
  timeout?: number | string;
}

export interface ResolvedGlobals {
  dataDir: string;
  paths: DataPaths;
  autostart: boolean;
  json: boolean;
  timeoutMs: number;
}

export function resolveGlobals(o: GlobalOptions, env: NodeJS.ProcessEnv = process.env): ResolvedGlobals {
  const dataDir = resolveDataDir(o.dataDir, env);
  const envNoAuto = env['ARPD_NO_AUTOSTART'];
  const autostart = o.autostart !== false && !(envNoAuto !== undefined && envNoAuto !== '' && envNoAuto !== '0');
  const t = o.timeout === undefined ? 30 : Number(o.timeout);
  return {
    dataDir,
    paths: dataPaths(dataDir, o.socket),
    autostart,
    json: o.json === true,
    timeoutMs: Number.isFinite(t) && t > 0 ? t * 1000 : 30_000,
  };
}
