/**
 * Linux network namespaces as the "hosts" of a multi-host test (root only, `ip` from iproute2):
 *
 *   const lab = netnsLab(t);                 // removed in t.teardown, and once more at process exit
 *   const a = lab.addHost('a');              // namespace arpd-<pid>-a, veth arpd-<pid>-a <-> eth0 on a /30
 *   await startPgCluster({ listenOn: [{ address: a.gateway, clients: a.subnet }] });
 *   const r = await lab.run(a, process.execPath, [ARPD_JS, …]);   // `ip netns exec arpd-<pid>-a node …`, no shell
 *   const c = lab.spawn(a, process.execPath, [script]);          // the same, left running (stdio piped)
 *   lab.linkDown(a); lab.linkUp(a);          // the host's own link, set down inside its namespace
 *
 * Each host is one namespace with its loopback up and one veth pair to the root namespace on a private /30 of
 * 10.213.0.0/16 (the root side is the host's gateway: a server in the root namespace listening there is reachable
 * from that host only; no routing, no NAT, nothing reaches beyond the machine). Names carry the test's pid, and the
 * /30s are chosen clear of every route of the root namespace, so parallel runs do not collide.
 *
 * Cleanup (idempotent, also when the test fails or times out): every process still in a namespace is killed (by
 * pid, from `ip netns pids`: only what the test started runs there), then each root-side veth and each namespace
 * is deleted. Namespaces of earlier runs whose test process is gone (`arpd-<dead pid>-*`) are removed at start.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cleanEnv, type TeardownHost } from './daemon-harness.js';

export interface NetnsHost {
  /** The short name given to addHost ('a'). */
  readonly name: string;
  /** The namespace: `arpd-<pid>-<name>`. */
  readonly ns: string;
  /** The root side of its veth pair (same name as the namespace: at most 15 bytes). */
  readonly veth: string;
  /** The host's side of the pair, inside its namespace. */
  readonly device: 'eth0';
  /** The host's address (inside the namespace). */
  readonly address: string;
  /** The root side's address: what the host reaches the root namespace by. */
  readonly gateway: string;
  /** The /30, as a CIDR. */
  readonly subnet: string;
}

export interface NetnsRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface NetnsRunOptions {
  /** Added to (or, as undefined, removed from) the clean environment of test/helpers/daemon-harness.ts. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

const PREFIX = 'arpd-';
const BASE = (10 << 24) | (213 << 16);
const BLOCKS = 1 << 14; // /30s in 10.213.0.0/16

function ip(args: readonly string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() || (r.error?.message ?? '') };
}

function mustIp(args: readonly string[]): string {
  const r = ip(args);
  if (!r.ok) throw new Error(`ip ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

const dotted = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

function parseCidr(text: string): { net: number; bits: number } | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(text);
  if (m === null) return undefined;
  const [a, b, c, d] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  const bits = m[5] === undefined ? 32 : Number(m[5]);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return { net: ((((a << 24) | (b << 16) | (c << 8) | d) >>> 0) & mask) >>> 0, bits };
}

/** The IPv4 prefixes the root namespace already routes (every table), so a new /30 overlaps none of them. */
function routedPrefixes(): Array<{ net: number; bits: number }> {
  const out: Array<{ net: number; bits: number }> = [];
  for (const line of ip(['-4', 'route', 'show', 'table', 'all']).out.split('\n')) {
    const first = line.trim().split(/\s+/)[0] ?? '';
    const dest = first === 'local' || first === 'broadcast' || first === 'unicast' ? line.trim().split(/\s+/)[1] ?? '' : first;
    if (dest === 'default' || dest === '') continue;
    const p = parseCidr(dest);
    if (p !== undefined) out.push(p);
  }
  return out;
}

function overlaps(a: { net: number; bits: number }, b: { net: number; bits: number }): boolean {
  const bits = Math.min(a.bits, b.bits);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((a.net & mask) >>> 0) === ((b.net & mask) >>> 0);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pids of every process in a namespace. */
function pidsIn(ns: string): number[] {
  return ip(['netns', 'pids', ns]).out.split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
}

/** Why namespaces cannot be used here, or undefined when they can (root, `ip` present, a probe namespace works). */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces are Linux-only (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'network namespaces need root (ip netns add): run the test as root';
  const probe = `${PREFIX}${process.pid}-probe`;
  const added = ip(['netns', 'add', probe]);
  if (!added.ok) return `\`ip netns add\` does not work here (${added.err || 'no ip binary: apt-get install -y iproute2'})`;
  ip(['netns', 'del', probe]);
  return undefined;
}

export class NetnsLab {
  private readonly hosts: NetnsHost[] = [];
  private readonly blocks = new Set<number>();
  private cleaned = false;
  private readonly onExit = (): void => { this.cleanupNow(); };
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    this.cleanupNow();
    process.kill(process.pid, sig);
  };

  constructor(t: TeardownHost) {
    t.teardown(() => this.cleanup());
    process.once('exit', this.onExit);
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(sig, this.onSignal);
    NetnsLab.removeStale();
  }

  /** Namespaces (and their veths) left by test processes that died without cleaning up. */
  static removeStale(): void {
    for (const line of ip(['netns', 'list']).out.split('\n')) {
      const name = line.trim().split(/\s+/)[0] ?? '';
      const m = new RegExp(`^${PREFIX}(\\d+)-[a-z0-9]+$`).exec(name);
      if (m === null || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
      removeHost(name, name);
    }
  }

  /** A new namespace `arpd-<pid>-<name>` with a veth pair to the root namespace on a free /30. */
  addHost(name: string): NetnsHost {
    if (!/^[a-z0-9]{1,4}$/.test(name)) throw new Error(`host name '${name}' must be 1 to 4 lowercase letters or digits (the veth name is at most 15 bytes)`);
    if (this.cleaned) throw new Error('this lab was cleaned up');
    const ns = `${PREFIX}${process.pid}-${name}`;
    if (this.hosts.some((h) => h.ns === ns)) throw new Error(`host '${name}' exists already`);
    const taken = routedPrefixes();
    let block = -1;
    for (let i = 0; i < BLOCKS; i++) {
      const b = (process.pid * 4 + this.hosts.length + i) % BLOCKS;
      if (this.blocks.has(b)) continue;
      if (taken.some((p) => overlaps(p, { net: (BASE + b * 4) >>> 0, bits: 30 }))) continue;
      block = b;
      break;
    }
    if (block < 0) throw new Error('no free /30 in 10.213.0.0/16 (every one is routed already)');
    const net = (BASE + block * 4) >>> 0;
    const host: NetnsHost = { name, ns, veth: ns, device: 'eth0', gateway: dotted(net + 1), address: dotted(net + 2), subnet: `${dotted(net)}/30` };
    // tracked before it exists: a failure half-way is cleaned up too
    this.hosts.push(host);
    this.blocks.add(block);
    mustIp(['netns', 'add', ns]);
    mustIp(['-n', ns, 'link', 'set', 'lo', 'up']);
    mustIp(['link', 'add', host.veth, 'type', 'veth', 'peer', 'name', host.device, 'netns', ns]);
    mustIp(['addr', 'add', `${host.gateway}/30`, 'dev', host.veth]);
    mustIp(['link', 'set', host.veth, 'up']);
    mustIp(['-n', ns, 'addr', 'add', `${host.address}/30`, 'dev', host.device]);
    mustIp(['-n', ns, 'link', 'set', host.device, 'up']);
    return host;
  }

  /** Cuts the host off: its own link goes down inside its namespace (no route to anything but its loopback). */
  linkDown(host: NetnsHost): void {
    mustIp(['-n', host.ns, 'link', 'set', host.device, 'down']);
  }

  linkUp(host: NetnsHost): void {
    mustIp(['-n', host.ns, 'link', 'set', host.device, 'up']);
  }

  /** The namespace a process is in (`ip netns identify`), '' for the root one. */
  namespaceOf(pid: number): string {
    return ip(['netns', 'identify', String(pid)]).out.trim();
  }

  /** Runs `cmd args…` inside the host's namespace to the end (`ip netns exec`, no shell); killed at `timeoutMs`. */
  run(host: NetnsHost, cmd: string, args: readonly string[], opts: NetnsRunOptions = {}): Promise<NetnsRunResult> {
    const child = spawn('ip', ['netns', 'exec', host.ns, cmd, ...args], { env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    return new Promise((resolve) => {
      child.once('error', (err) => { clearTimeout(timer); resolve({ code: -1, signal: null, stdout, stderr: `${stderr}${err.message}` }); });
      child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    });
  }

  /**
   * Starts `cmd args…` inside the host's namespace and leaves it running, stdio piped (`ip netns exec` execs it: the
   * child's pid is the command's). The caller ends it; cleanup kills it with the namespace's other processes.
   */
  spawn(host: NetnsHost, cmd: string, args: readonly string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', host.ns, cmd, ...args], { env: cleanEnv(opts.env), stdio: ['pipe', 'pipe', 'pipe'], ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }) });
  }

  /** Kills what runs in the namespaces, deletes the veths and the namespaces. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    // give what still runs a moment to end by itself (SIGTERM), then the rest is SIGKILLed by cleanupNow
    const pids = this.hosts.flatMap((h) => pidsIn(h.ns));
    for (const pid of pids) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    }
    const until = Date.now() + 3000;
    while (pids.some(pidAlive) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.cleanupNow();
  }

  private cleanupNow(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    process.off('exit', this.onExit);
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.off(sig, this.onSignal);
    for (const h of this.hosts) removeHost(h.ns, h.veth);
  }
}

/** SIGKILL to every process of the namespace, wait for them, delete the root-side veth and the namespace. */
function removeHost(ns: string, veth: string): void {
  const pids = pidsIn(ns);
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 150 && pidsIn(ns).length > 0; i++) Atomics.wait(pause, 0, 0, 20);
  // the veth goes with its namespace; deleting the root side first makes sure even when the namespace lingers
  ip(['link', 'del', veth]);
  ip(['netns', 'del', ns]);
}

/** A lab whose namespaces are removed in `t.teardown` (and at process exit). */
export function netnsLab(t: TeardownHost): NetnsLab {
  return new NetnsLab(t);
}
