/** Test helpers for the reference runtime: a started runtime per test, JSON over fetch, and an SSE reader. */
import { request } from 'node:http';
import type { Test } from 'tap';
import { startReferenceRuntime, type RunningReferenceRuntime, type StartReferenceRuntimeOptions } from '../../src/runtime/reference-runtime.js';

export async function startRuntime(t: Test, opts: StartReferenceRuntimeOptions = {}): Promise<RunningReferenceRuntime> {
  const rt = await startReferenceRuntime({ stepDelayMs: 1, ...opts });
  t.teardown(() => rt.close());
  return rt;
}

export interface JsonResponse {
  status: number;
  contentType: string;
  body: unknown;
}

async function asJson(res: Response): Promise<JsonResponse> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
}

export async function getJson(url: string): Promise<JsonResponse> {
  return asJson(await fetch(url));
}

export async function postJson(url: string, body?: unknown): Promise<JsonResponse> {
  const init: RequestInit =
    body === undefined
      ? { method: 'POST' }
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  return asJson(await fetch(url, init));
}

export async function postRaw(url: string, body: string, contentType?: string): Promise<JsonResponse> {
  return asJson(await fetch(url, { method: 'POST', headers: contentType === undefined ? {} : { 'content-type': contentType }, body }));
}

export interface SseFrame {
  id?: string;
  data: string;
}

/** Reads an SSE response to its end; comment lines are dropped, each frame keeps its id and data. */
export async function readSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string; frames: SseFrame[] }> {
  const res = await fetch(url, { headers });
  const contentType = res.headers.get('content-type') ?? '';
  const text = await res.text();
  const frames: SseFrame[] = [];
  for (const block of text.split('\n\n')) {
    const frame: SseFrame = { data: '' };
    let hasData = false;
    for (const line of block.split('\n')) {
      if (line.startsWith('id: ')) frame.id = line.slice(4);
      if (line.startsWith('data: ')) {
        frame.data += line.slice(6);
        hasData = true;
      }
    }
    if (hasData) frames.push(frame);
  }
  return { status: res.status, contentType, frames };
}

/** A request whose path goes out exactly as given (fetch would normalise `..`). */
export function rawRequest(base: string, method: string, path: string): Promise<JsonResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
