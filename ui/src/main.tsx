/** The dashboard: a login gate, then one page per part of the daemon, chosen by the URL's hash. */
import './styles.css';
import 'uplot/dist/uPlot.min.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, onUnauthorized } from './api.js';
import { EventsPage } from './pages/events.js';
import { InstancesPage } from './pages/instances.js';
import { Login } from './pages/login.js';
import { Overview } from './pages/overview.js';
import { ProfilesPage } from './pages/profiles.js';
import { RunPage } from './pages/run.js';
import { RunsPage } from './pages/runs.js';
import { href, useRoute } from './router.js';

type Auth = { state: 'checking' } | { state: 'in'; mode: string } | { state: 'out'; notice?: string };

const NAV: Array<[string, string]> = [['overview', 'Overview'], ['instances', 'Instances'], ['profiles', 'Profiles'], ['runs', 'Runs'], ['events', 'Event log']];

function Page({ parts }: { parts: string[] }) {
  const [top, id] = parts;
  switch (top) {
    case 'instances': return <InstancesPage selected={id} />;
    case 'profiles': return <ProfilesPage selected={id} />;
    case 'runs': return id === undefined ? <RunsPage /> : <RunPage runId={id} />;
    case 'events': return <EventsPage />;
    default: return <Overview />;
  }
}

function App() {
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });
  const route = useRoute();

  const check = (): void => {
    api<{ http?: { auth?: string } }>('GET', '/v1/admin/status', { quiet401: true }).then(
      (s) => setAuth({ state: 'in', mode: s.http?.auth ?? 'token' }),
      (err: unknown) => setAuth(err instanceof ApiError && err.status === 401 ? { state: 'out' } : { state: 'out', notice: err instanceof Error ? err.message : String(err) }),
    );
  };
  useEffect(() => {
    onUnauthorized(() => setAuth({ state: 'out', notice: 'Your session has ended (the daemon restarted, or it was idle too long): log in again.' }));
    check();
  }, []);

  useEffect(() => {
    const name = NAV.find(([k]) => k === (route.parts[0] ?? 'overview'))?.[1] ?? 'Overview';
    document.title = `${route.parts[0] === 'runs' && route.parts[1] !== undefined ? `Run ${route.parts[1]}` : name} · arpd`;
  }, [route]);

  if (auth.state === 'checking') return <main id="main" class="login"><p role="status">Connecting to the daemon…</p></main>;
  if (auth.state === 'out') return <Login notice={auth.notice} onDone={check} />;

  const logout = async (): Promise<void> => {
    try { await api('POST', '/ui/logout'); } catch { /* the cookie is cleared either way */ }
    setAuth({ state: 'out', notice: 'You are logged out.' });
  };
  const active = route.parts[0] ?? 'overview';
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href={href('overview')}>arpd</a>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([k, label]) => <li key={k}><a href={href(k)} aria-current={active === k ? 'page' : undefined}>{label}</a></li>)}
          </ul>
        </nav>
        <button type="button" class="quiet" onClick={() => void logout()}>Log out</button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page parts={route.parts} />
      </main>
    </>
  );
}

const root = document.getElementById('app');
if (root !== null) render(<App />, root);
