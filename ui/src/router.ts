/** Routes in the URL's hash (`#/runs/<id>`): the server serves one page, and nothing secret is ever in a URL. */
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  /** Path segments: `#/runs/abc?state=failed` -> ['runs', 'abc']. */
  parts: string[];
  query: URLSearchParams;
}

function current(): Route {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const q = hash.indexOf('?');
  const path = q === -1 ? hash : hash.slice(0, q);
  return { parts: path.split('/').filter((p) => p !== '').map((p) => decodeURIComponent(p)), query: new URLSearchParams(q === -1 ? '' : hash.slice(q + 1)) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const on = (): void => setRoute(current());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function href(...parts: string[]): string {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

export function navigate(to: string, replace = false): void {
  if (replace) window.history.replaceState(null, '', to);
  else window.location.hash = to.replace(/^#/, '');
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}
