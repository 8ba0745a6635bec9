/** The login form: the daemon's token (or a JWT) is sent once to /ui/login, which sets the session cookie. */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.js';
import { described, ErrorBox, Field } from '../components/common.js';

export function Login({ notice, onDone }: { notice?: string | undefined; onDone(): void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/ui/login', { body: { token }, quiet401: true });
      setToken('');
      onDone();
    } catch (err) {
      setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="login">
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-h" noValidate>
        <h1 id="login-h">arpd dashboard</h1>
        <p>Log in with the daemon's token: the <code>http.token</code> file in its data dir (<code>cat ~/.arpd/http.token</code>), or a JWT when the daemon runs with <code>--http-auth jwt</code>.</p>
        <ErrorBox message={notice} />
        <Field id="login-token" label="Token or JWT" error={error}>
          <input {...described('login-token', error)} type="password" name="token" autoComplete="off" spellcheck={false} required value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" class="primary" disabled={busy || token.trim() === ''}>{busy ? 'Checking…' : 'Log in'}</button>
        <p class="hint">The token is checked once and kept by the daemon; this browser only holds a session cookie it cannot read.</p>
      </form>
    </main>
  );
}
