/** Small shared pieces: state badges, error boxes, raw JSON, the stream indicator. */
import type { ComponentChildren } from 'preact';
import type { StreamState } from '../live-stream.js';

export function Badge({ state }: { state: string }) {
  return <span class={`badge badge-${state.replace(/[^a-z_]/g, '')}`}>{state}</span>;
}

export function ErrorBox({ message, id }: { message: string | undefined; id?: string }) {
  if (message === undefined || message === '') return null;
  return <p class="error-box" role="alert" {...(id === undefined ? {} : { id })}>{message}</p>;
}

export function Json({ value, label }: { value: unknown; label: string }) {
  return <pre class="json" tabIndex={0} aria-label={label}>{JSON.stringify(value, null, 2)}</pre>;
}

const STREAM_TEXT: Record<StreamState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  ended: 'ended',
  failed: 'stopped',
};

export function StreamDot({ state, detail }: { state: StreamState; detail?: string | undefined }) {
  return (
    <span class={`stream stream-${state}`} role="status" aria-live="polite" title={detail ?? ''}>
      <span class="dot" aria-hidden="true" /> {STREAM_TEXT[state]}
    </span>
  );
}

export function Section({ title, children, actions, id }: { title: string; children: ComponentChildren; actions?: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={id === undefined ? undefined : `${id}-h`}>
      <div class="card-head">
        <h2 {...(id === undefined ? {} : { id: `${id}-h` })}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** A label, a control and its error, tied together for screen readers (`aria-describedby`). */
export function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string | undefined; hint?: string; children: ComponentChildren }) {
  return (
    <div class={`field${error === undefined ? '' : ' field-invalid'}`}>
      <label for={id}>{label}</label>
      {children}
      {hint === undefined ? null : <p class="hint" id={`${id}-hint`}>{hint}</p>}
      <p class="field-error" id={`${id}-error`} role={error === undefined ? undefined : 'alert'}>{error ?? ''}</p>
    </div>
  );
}

/** The aria attributes of a control inside a `Field`. */
export function described(id: string, error: string | undefined, hint = false): Record<string, string | boolean> {
  return { id, 'aria-describedby': `${hint ? `${id}-hint ` : ''}${id}-error`, 'aria-invalid': error !== undefined };
}
