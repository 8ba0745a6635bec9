import { Observable, Subject, filter, firstValueFrom, timeout, type Subscription } from 'rxjs';
import type { StoredEvent } from '../events/envelope.js';
import { Registry } from './registry.js';

/**
 * The RxJS wiring: every event is folded by `Registry.apply` (the pure evolve functions), then the
 * last applied seq is signalled so a writer can wait until its own event is reflected (read-your-writes),
 * then the event goes out on `events$`. Boot replay and live appends go through the very same `push`.
 * (No operator chain between them: the boot calls `push` for every event of the log, and a Subject
 * and a `map` per event cost as much as the fold of a trace line. For the same reason a subject with
 * no subscriber, as at boot, is not called at all.)
 */
export class Projection {
  readonly registry: Registry;
  /** The last applied seq. */
  private applied: number;
  /** Each applied seq, to the subscribers of `applied$`. */
  private readonly appliedLive = new Subject<number>();
  private readonly out = new Subject<StoredEvent>();
  /** Every event after it has been applied to the registry. */
  readonly events$: Observable<StoredEvent> = this.out.asObservable();
  /** The last applied seq, then each one applied after it (as a BehaviorSubject would: subscribe, then the current value). */
  readonly applied$: Observable<number> = new Observable<number>((subscriber) => {
    const subscription = this.appliedLive.subscribe(subscriber);
    if (!subscription.closed) subscriber.next(this.applied);
    return subscription;
  });

  /** Starts from an empty registry, or from one loaded from a snapshot. */
  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.applied = registry.lastSeq;
  }

  /** Folds one event, signals its seq, then publishes it (the boot fold calls this for every recovered event). */
  push(event: StoredEvent): void {
    this.registry.apply(event);
    this.applied = event.seq;
    if (this.appliedLive.observed) this.appliedLive.next(event.seq);
    if (this.out.observed) this.out.next(event);
  }

  /** Follows a live source (the store's `appended$`). */
  follow(source$: Observable<StoredEvent>): Subscription {
    return source$.subscribe((e) => this.push(e));
  }

  get lastSeq(): number {
    return this.applied;
  }

  /** Resolves once the registry has applied an event with a seq >= `seq` (stores publish an append before acknowledging it). */
  async waitFor(seq: number): Promise<void> {
    if (this.applied >= seq) return;
    await firstValueFrom(this.applied$.pipe(filter((s) => s >= seq)));
  }

  /**
   * Lets events published by other writers reach the registry before a decision is made again (after a conflict).
   * Told the stream and the revision the store has (a shared store's reader may be a moment behind its writer), it
   * waits until the registry holds that revision, at most `maxMs`; else it waits a moment.
   */
  async settle(conflict?: { stream?: unknown; actual?: unknown }, maxMs = 5000): Promise<void> {
    const stream = conflict?.stream;
    const actual = conflict?.actual;
    if (typeof stream !== 'string' || typeof actual !== 'number') return new Promise((resolve) => setTimeout(resolve, 20));
    if (this.registry.streamRev(stream) >= actual) return;
    await firstValueFrom(this.applied$.pipe(filter(() => this.registry.streamRev(stream) >= actual), timeout({ first: maxMs }))).catch(() => undefined);
  }
}
