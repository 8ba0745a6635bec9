/** Everything that configures one daemon process. CLI flags map onto this one to one. */
export interface DaemonOptions {
  dataDir: string;
  /** Socket path override (`--socket`); default `<data-dir>/arpd.sock`. */
  socketPath?: string | undefined;
  /** Exit after this many seconds with no client and no work (ephemeral mode). */
  idleTimeoutS?: number | undefined;
  /** Foreground (`arpd serve`): logs also go to stderr. */
  foreground: boolean;
  /** Cut a damaged log at the first bad line instead of refusing to start. */
  repair?: boolean | undefined;
  /** Largest request line on the socket. Default 1 MiB. */
  maxLineBytes?: number | undefined;
  /** Roll the log past this size. */
  segmentBytes?: number | undefined;
  /** Stop managed instances at shutdown (default) or leave them for the next start to adopt. */
  keepInstances?: boolean | undefined;
  /** Test-only: ignore `daemon.shutdown` ('rpc'), and also SIGTERM ('rpc+term'). */
  testIgnoreShutdown?: 'rpc' | 'rpc+term' | undefined;
  logLevel?: string | undefined;
  /** Feature options (instances, runs, HTTP) keyed by feature. */
  extra?: Record<string, unknown>;
}
