/**
 * The schema of the PostgreSQL event store, as plain versioned SQL. Each migration runs in one
 * transaction together with the row that records it in `<schema>.schema_version`. Append-only: a
 * released migration never changes; a change is a new one with the next version. `S` stands for the
 * quoted schema name.
 */
export interface Migration {
  version: number;
  name: string;
  sql(S: string): string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, streams and the append function',
    sql: (S) => `
CREATE TABLE ${S}.events (
  -- the global position: unique, increasing in insert order, with gaps (rolled back inserts)
  seq    bigserial PRIMARY KEY,
  -- the writing transaction: the store order is (tx, seq), read only below the snapshot's xmin
  tx     xid8 NOT NULL,
  id     uuid NOT NULL UNIQUE,
  ts     timestamptz NOT NULL,
  stream text NOT NULL,
  rev    integer NOT NULL CHECK (rev > 0),
  type   text NOT NULL,
  v      integer NOT NULL,
  data   json NOT NULL,
  meta   json NOT NULL,
  CONSTRAINT events_stream_rev UNIQUE (stream, rev)
);
CREATE INDEX events_order ON ${S}.events (tx, seq);

-- one row per stream: its revision, and the row lock that orders the writers of a stream
CREATE TABLE ${S}.streams (
  stream text PRIMARY KEY,
  rev    integer NOT NULL
);

-- Appends one batch of groups (one group = one append call) in the calling transaction.
-- p_batch: [{i, g, id, ts, stream, expected, type, v, data, meta}] with i = 1..n in order and each
-- group's events contiguous; data and meta are JSON texts inside JSON strings (so that any string
-- JSON.stringify makes, lone surrogates included, passes through the batch unchanged). Locks every stream of the batch (sorted, so writers never deadlock),
-- then per group: ids already stored (an earlier attempt whose outcome was unknown) are reported as
-- 'exists' and not written again; a group whose expected revision does not match is reported as
-- 'conflict' and writes nothing; the others are written. One group's conflict never affects another.
CREATE FUNCTION ${S}.append(p_batch json, p_lock_timeout text)
RETURNS TABLE (outcome text, g integer, id uuid, seq bigint, rev integer, tx xid8, stream text, expected integer, actual integer)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_tx xid8;
  v_streams text[];
  v_revs integer[];
  v_trial integer[];
  v_g integer[];
  v_id uuid[];
  v_ts timestamptz[];
  v_stream text[];
  v_expected integer[];
  v_type text[];
  v_v integer[];
  v_data text[];
  v_meta text[];
  v_rev integer[];
  v_ok boolean[];
  v_done integer[];
  n integer;
  j integer;
  e integer;
  x integer;
  k integer;
  cur integer;
  grp integer;
  v_conflict boolean;
BEGIN
  -- an append is acknowledged only once durable, whatever the server's default
  IF current_setting('synchronous_commit') = 'off' THEN
    PERFORM set_config('synchronous_commit', 'on', true);
  END IF;
  PERFORM set_config('lock_timeout', p_lock_timeout, true);

  -- the batch is parsed once
  SELECT array_agg(b.g ORDER BY b.i), array_agg(b.id ORDER BY b.i), array_agg(b.ts ORDER BY b.i), array_agg(b.stream ORDER BY b.i),
         array_agg(b.expected ORDER BY b.i), array_agg(b.type ORDER BY b.i), array_agg(b.v ORDER BY b.i),
         array_agg(b.data ORDER BY b.i), array_agg(b.meta ORDER BY b.i)
    INTO v_g, v_id, v_ts, v_stream, v_expected, v_type, v_v, v_data, v_meta
    FROM json_to_recordset(p_batch) AS b(i integer, g integer, id uuid, ts timestamptz, stream text, expected integer, type text, v integer, data text, meta text);
  n := coalesce(array_length(v_g, 1), 0);
  IF n = 0 THEN RETURN; END IF;
  v_tx := pg_current_xact_id();

  -- new streams get a row, then every stream row of the batch is locked, both in stream order
  INSERT INTO ${S}.streams (stream, rev)
  SELECT DISTINCT s, 0 FROM unnest(v_stream) AS s ORDER BY 1
  ON CONFLICT (stream) DO NOTHING;
  SELECT array_agg(l.stream ORDER BY l.stream), array_agg(l.rev ORDER BY l.stream) INTO v_streams, v_revs
    FROM (SELECT st.stream, st.rev FROM ${S}.streams st WHERE st.stream = ANY (v_stream) ORDER BY st.stream FOR UPDATE) l;

  -- events of this batch that an earlier attempt wrote (its outcome was not known): report, never write twice
  SELECT coalesce(array_agg(DISTINCT u.g), '{}') INTO v_done
    FROM unnest(v_id, v_g) AS u(id, g) JOIN ${S}.events ev ON ev.id = u.id;
  IF cardinality(v_done) > 0 THEN
    RETURN QUERY
      SELECT 'exists'::text, u.g, ev.id, ev.seq, ev.rev, ev.tx, ev.stream, NULL::integer, NULL::integer
      FROM unnest(v_id, v_g) AS u(id, g) JOIN ${S}.events ev ON ev.id = u.id;
  END IF;

  v_rev := array_fill(NULL::integer, ARRAY[n]);
  v_ok := array_fill(false, ARRAY[n]);
  j := 1;
  WHILE j <= n LOOP
    grp := v_g[j];
    e := j;
    WHILE e < n AND v_g[e + 1] = grp LOOP e := e + 1; END LOOP;
    IF NOT (grp = ANY (v_done)) THEN
      v_trial := v_revs;
      v_conflict := false;
      FOR x IN j..e LOOP
        k := array_position(v_streams, v_stream[x]);
        cur := v_trial[k];
        IF v_expected[x] IS NOT NULL AND v_expected[x] <> cur THEN
          outcome := 'conflict'; g := grp; id := NULL; seq := NULL; rev := NULL; tx := NULL;
          stream := v_stream[x]; expected := v_expected[x]; actual := cur;
          RETURN NEXT;
          v_conflict := true;
          EXIT;
        END IF;
        v_trial[k] := cur + 1;
        v_rev[x] := cur + 1;
      END LOOP;
      IF NOT v_conflict THEN
        v_revs := v_trial;
        FOR x IN j..e LOOP v_ok[x] := true; END LOOP;
      END IF;
    END IF;
    j := e + 1;
  END LOOP;

  RETURN QUERY
    WITH ins AS (
      INSERT INTO ${S}.events AS ev (tx, id, ts, stream, rev, type, v, data, meta)
      SELECT v_tx, u.id, u.ts, u.stream, u.rev, u.type, u.v, u.data::json, u.meta::json
        FROM unnest(v_id, v_ts, v_stream, v_rev, v_type, v_v, v_data, v_meta, v_ok) WITH ORDINALITY
             AS u(id, ts, stream, rev, type, v, data, meta, ok, i)
       WHERE u.ok
       ORDER BY u.i
      RETURNING ev.id, ev.seq, ev.rev, ev.stream
    )
    SELECT 'ok'::text, NULL::integer, ins.id, ins.seq, ins.rev, v_tx, ins.stream, NULL::integer, NULL::integer FROM ins;

  UPDATE ${S}.streams AS st SET rev = u.rev
    FROM unnest(v_streams, v_revs) AS u(stream, rev)
   WHERE st.stream = u.stream AND st.rev <> u.rev;
END;
$fn$;
`,
  },
  {
    version: 2,
    name: 'node leases',
    sql: (S) => `
-- one row per node (daemon) sharing this store: its lease, renewed by a heartbeat. Not events: a heartbeat every
-- few seconds would fill the log; the facts (joined, left, lost) are events, the liveness is this row.
-- Times are the server's (clock_timestamp()), so the hosts' clocks never have to agree.
CREATE TABLE ${S}.nodes (
  node_id      text PRIMARY KEY,
  incarnation  text NOT NULL,
  host         text NOT NULL,
  pid          integer NOT NULL,
  data_dir     text NOT NULL,
  version      text NOT NULL,
  http_url     text,
  lease_ms     integer NOT NULL CHECK (lease_ms > 0),
  started_at   timestamptz NOT NULL,
  heartbeat_at timestamptz NOT NULL,
  left_at      timestamptz
);
`,
  },
  {
    version: 3,
    name: 'append and read back in one round trip',
    sql: (S) => `
-- append(p_batch, p_lock_timeout), then, in the same transaction and round trip, the events after the caller's
-- read position (p_after_tx, p_after_seq) up to and including this transaction's own, in store order (tx, seq),
-- at most p_limit: the rows 'ok' / 'exists' / 'conflict' of append (event columns NULL), then rows 'event'.
-- The events are returned only when no transaction older than this one is still running (the statement
-- snapshot's xmin is not below this transaction's id; its xip alone would miss ids at or above its xmax): then every event before this transaction's own is
-- committed or rolled back, so after this commit the order up to them is final and a reader may publish
-- them, as the tail would after reading them below pg_snapshot_xmin. Otherwise no 'event' rows: the tail
-- reads them when the older transaction ends (a slow commit is never skipped). The caller uses the rows only
-- once the commit is acknowledged.
CREATE FUNCTION ${S}.append_read(p_batch json, p_lock_timeout text, p_after_tx xid8, p_after_seq bigint, p_limit integer)
RETURNS TABLE (outcome text, g integer, id uuid, stream text, expected integer, actual integer,
               seq bigint, tx xid8, ts timestamptz, rev integer, type text, v integer, data json, meta json)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_tx xid8;
BEGIN
  RETURN QUERY
    SELECT a.outcome, a.g, a.id, a.stream, a.expected, a.actual,
           NULL::bigint, NULL::xid8, NULL::timestamptz, NULL::integer, NULL::text, NULL::integer, NULL::json, NULL::json
      FROM ${S}.append(p_batch, p_lock_timeout) AS a;
  v_tx := pg_current_xact_id_if_assigned();
  IF v_tx IS NULL THEN RETURN; END IF;
  RETURN QUERY
    SELECT 'event'::text, NULL::integer, ev.id, ev.stream, NULL::integer, NULL::integer,
           ev.seq, ev.tx, ev.ts, ev.rev, ev.type, ev.v, ev.data, ev.meta
      FROM ${S}.events AS ev
     WHERE (ev.tx, ev.seq) > (p_after_tx, p_after_seq) AND ev.tx <= v_tx
       AND pg_snapshot_xmin(pg_current_snapshot()) >= v_tx
     ORDER BY ev.tx, ev.seq
     LIMIT p_limit;
END;
$fn$;
`,
  },
  {
    version: 4,
    name: 'the read back waits briefly for older transactions',
    sql: (S) => `
-- As in migration 3, but when an older transaction is still running after the append, the function first waits
-- for it (polling the snapshot every half millisecond, at most arpd.read_back_wait_ms, 20 ms unless set) before it
-- reads back: between nodes an older transaction is usually another node's append in its commit, over within a
-- millisecond or two, while the fallback (the tail reads the events once it ends) costs the caller a round trip
-- or more. The wait is bounded, so a transaction that stays open (or one waiting on a stream row this one locked)
-- only costs the bound: then no 'event' rows, and the tail reads them as before. Nothing else changes.
CREATE OR REPLACE FUNCTION ${S}.append_read(p_batch json, p_lock_timeout text, p_after_tx xid8, p_after_seq bigint, p_limit integer)
RETURNS TABLE (outcome text, g integer, id uuid, stream text, expected integer, actual integer,
               seq bigint, tx xid8, ts timestamptz, rev integer, type text, v integer, data json, meta json)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_tx xid8;
  v_until timestamptz;
BEGIN
  RETURN QUERY
    SELECT a.outcome, a.g, a.id, a.stream, a.expected, a.actual,
           NULL::bigint, NULL::xid8, NULL::timestamptz, NULL::integer, NULL::text, NULL::integer, NULL::json, NULL::json
      FROM ${S}.append(p_batch, p_lock_timeout) AS a;
  v_tx := pg_current_xact_id_if_assigned();
  IF v_tx IS NULL THEN RETURN; END IF;
  -- each check takes a fresh snapshot (a volatile function in READ COMMITTED)
  v_until := clock_timestamp() + make_interval(secs => coalesce(nullif(current_setting('arpd.read_back_wait_ms', true), '')::integer, 20) / 1000.0);
  WHILE pg_snapshot_xmin(pg_current_snapshot()) < v_tx AND clock_timestamp() < v_until LOOP
    PERFORM pg_sleep(0.0005);
  END LOOP;
  RETURN QUERY
    SELECT 'event'::text, NULL::integer, ev.id, ev.stream, NULL::integer, NULL::integer,
           ev.seq, ev.tx, ev.ts, ev.rev, ev.type, ev.v, ev.data, ev.meta
      FROM ${S}.events AS ev
     WHERE (ev.tx, ev.seq) > (p_after_tx, p_after_seq) AND ev.tx <= v_tx
       AND pg_snapshot_xmin(pg_current_snapshot()) >= v_tx
     ORDER BY ev.tx, ev.seq
     LIMIT p_limit;
END;
$fn$;
`,
  },
];

/** The newest schema version this arpd knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
