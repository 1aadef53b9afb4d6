-- 0004: signed bundles and the agent protocol (DESIGN §6) and decision
-- event intake (DESIGN §7): signing keys and keysets, compiled bundles and
-- their signed heads, enroll secrets, agents, events.
-- Never edit a landed migration; add a new file.

-- Per-org counters of the bundle protocol.  Both only go up, and both are
-- drawn as GREATEST(last + 1, milliseconds since the epoch) (db/bundle.c),
-- so that after a restore from an older backup the next number is still
-- above every number issued before: agents refuse a lower one (DESIGN §6).
-- compiled_policy_version is the orgs.policy_version the heads were last
-- compiled at; the row is locked while compiling, so one replica compiles.
CREATE TABLE bundle_state (
  org_id                  uuid PRIMARY KEY REFERENCES orgs (id),
  bundle_version          bigint NOT NULL DEFAULT 0 CHECK (bundle_version >= 0),
  head_serial             bigint NOT NULL DEFAULT 0 CHECK (head_serial >= 0),
  compiled_policy_version bigint NOT NULL DEFAULT -1,
  keyset_version          bigint NOT NULL DEFAULT 0 CHECK (keyset_version >= 0)
);

-- ES256 signing keys.  The private key is PKCS#8 DER sealed with AES-256-GCM
-- under the server master key (server/master_key.h): nonce || ciphertext ||
-- tag; master_key_id names the master key (hex SHA-256 prefix) so a wrong
-- key is reported as such.  kid = hex SHA-256 of the SPKI DER (DESIGN §6).
CREATE TABLE signing_keys (
  org_id        uuid NOT NULL REFERENCES orgs (id),
  kid           text NOT NULL CHECK (kid ~ '^[0-9a-f]{64}$'),
  alg           text NOT NULL DEFAULT 'ES256' CHECK (alg = 'ES256'),
  public_spki   bytea NOT NULL,
  private_sealed bytea NOT NULL,
  master_key_id text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  retired_at    timestamptz,                        -- no longer signs; set by rotation
  PRIMARY KEY (org_id, kid)
);

-- Signed keyset documents, exactly as served (JWS JSON serialization,
-- RFC 7515 §7.2.1).  Immutable: agents walk them one version at a time.
CREATE TABLE keysets (
  org_id      uuid NOT NULL REFERENCES orgs (id),
  version     bigint NOT NULL CHECK (version >= 1),
  document    text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, version)
);
CREATE FUNCTION keysets_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'keysets are immutable' USING ERRCODE = 'raise_exception';
END $$;
CREATE TRIGGER keysets_immutable BEFORE UPDATE ON keysets
  FOR EACH ROW EXECUTE FUNCTION keysets_immutable();

-- Compiled bundles: the exact canonical JSON bytes that were hashed and
-- signed, addressed by the hex SHA-256 of those bytes.
CREATE TABLE bundles (
  sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  org_id      uuid NOT NULL REFERENCES orgs (id),
  version     bigint NOT NULL,
  body        bytea NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bundles_org ON bundles (org_id, version);

-- The current signed head of each subject: a user (every agent of that
-- user shares it) or a userless agent.  jws is the compact JWS served.
CREATE TABLE heads (
  org_id          uuid NOT NULL REFERENCES orgs (id),
  subject_id      uuid NOT NULL,
  bundle_version  bigint NOT NULL,
  sha256          text NOT NULL REFERENCES bundles (sha256),
  length          bigint NOT NULL,
  head_serial     bigint NOT NULL,
  keyset_version  bigint NOT NULL,
  jws             text NOT NULL,
  issued_at       timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (org_id, subject_id)
);
CREATE INDEX heads_expires ON heads (expires_at);

-- Enroll secrets (DESIGN §6): shown once, stored as SHA-256; optionally
-- bound to a user, whose agents then get that user's policies.
CREATE TABLE enroll_secrets (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id        uuid NOT NULL REFERENCES orgs (id),
  name          text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 128),
  secret_sha256 bytea NOT NULL UNIQUE,
  prefix        text NOT NULL,
  user_id       uuid,
  expires_at    timestamptz,
  max_uses      bigint CHECK (max_uses IS NULL OR max_uses >= 1),
  uses          bigint NOT NULL DEFAULT 0 CHECK (uses >= 0),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text NOT NULL,
  revoked_at    timestamptz,
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX enroll_secrets_org_created ON enroll_secrets (org_id, created_at, id);

-- Enrolled agents.  The credential is 32 random bytes, stored as SHA-256.
-- The reported_* columns are what the agent last said at check-in,
-- flushed in bulk with last_seen_at (api/agent_checkin.c).  A deleted agent
-- keeps its row (events and audit name it) but authenticates no more.
-- user_id has no foreign key: a deleted user's agents keep their rows,
-- revoked by the trigger on users below.
CREATE TABLE agents (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id            uuid NOT NULL REFERENCES orgs (id),
  user_id           uuid,
  enroll_secret_id  uuid REFERENCES enroll_secrets (id) ON DELETE SET NULL,
  credential_sha256 bytea NOT NULL UNIQUE,
  hostname          text NOT NULL CHECK (octet_length(hostname) BETWEEN 1 AND 253),
  platform          text NOT NULL CHECK (octet_length(platform) BETWEEN 1 AND 64),
  agent_version     text NOT NULL CHECK (octet_length(agent_version) BETWEEN 1 AND 64),
  enrolled_at       timestamptz NOT NULL DEFAULT now(),
  disabled_at       timestamptz,
  deleted_at        timestamptz,
  last_seen_at      timestamptz,
  reported_at       timestamptz,
  active_version    bigint,
  active_sha256     text,
  active_head_serial bigint,
  keyset_version    bigint,
  last_error        text CHECK (octet_length(last_error) <= 1024),
  stale             boolean NOT NULL DEFAULT false,
  events_spooled    bigint NOT NULL DEFAULT 0,
  events_dropped    bigint NOT NULL DEFAULT 0,
  last_event_seq    bigint NOT NULL DEFAULT 0,
  UNIQUE (org_id, id)
);
CREATE INDEX agents_org_enrolled ON agents (org_id, enrolled_at, id) WHERE deleted_at IS NULL;
CREATE INDEX agents_user ON agents (org_id, user_id) WHERE deleted_at IS NULL;

-- Every replica caches agent credentials (server/agent_auth.c); any change
-- that ends or suspends one is announced on this channel, payload the
-- agent id, so every cache drops it within the NOTIFY latency.
CREATE FUNCTION agents_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('bulwark_agent', NEW.id::text);
  RETURN NULL;
END $$;
CREATE TRIGGER agents_notify AFTER UPDATE OF disabled_at, deleted_at, user_id ON agents
  FOR EACH ROW EXECUTE FUNCTION agents_notify();

-- DESIGN §3: deactivating or deleting a user revokes that user's agent
-- credentials (the agents are deleted: they must enroll again).
CREATE FUNCTION users_revoke_agents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    UPDATE agents SET deleted_at = now()
     WHERE org_id = OLD.org_id AND user_id = OLD.id AND deleted_at IS NULL;
    RETURN OLD;
  END IF;
  IF OLD.active AND NOT NEW.active THEN
    UPDATE agents SET deleted_at = now()
     WHERE org_id = NEW.org_id AND user_id = NEW.id AND deleted_at IS NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER users_revoke_agents BEFORE UPDATE OF active OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION users_revoke_agents();

-- Deleting an org (a soft delete) ends its agents' credentials too.
CREATE FUNCTION orgs_revoke_agents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
    UPDATE agents SET deleted_at = now() WHERE org_id = NEW.id AND deleted_at IS NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER orgs_revoke_agents AFTER UPDATE OF deleted_at ON orgs
  FOR EACH ROW EXECUTE FUNCTION orgs_revoke_agents();

-- Decision events (DESIGN §7), one partition per UTC day of the event
-- time, created ahead and on demand and dropped past retention
-- (db/event.c).  A resent event has the same (agent, event_id, time) and
-- is stored once.
CREATE TABLE events (
  org_id          uuid NOT NULL,
  agent_id        uuid NOT NULL,
  event_id        uuid NOT NULL,
  seq             bigint NOT NULL,
  time            timestamptz NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now(),
  user_id         text,
  session         jsonb,
  surface         text NOT NULL,
  action          text NOT NULL,
  resource        jsonb NOT NULL,
  decision        text NOT NULL,
  mode            text,
  rule            jsonb,
  reason          text,
  bundle_version  bigint,
  PRIMARY KEY (agent_id, event_id, time)
) PARTITION BY RANGE (time);
CREATE INDEX events_org_time ON events (org_id, time);

-- The partition of events for UTC day @day, named events_YYYYMMDD, created
-- if missing (server/event_upkeep.c: ahead of time, and at intake for an
-- event's day).  @return true if this call created it.  Replicas racing to
-- create the same day: the loser answers false.  The name is made here,
-- from a date, so no caller builds SQL.
CREATE FUNCTION events_partition_ensure(day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  part text := 'events_' || to_char(day, 'YYYYMMDD');
BEGIN
  IF to_regclass(quote_ident(part)) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)', part,
                 day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
  RETURN true;
EXCEPTION WHEN duplicate_table OR unique_violation THEN
  RETURN false;
END $$;

-- Drop every partition of events whose whole UTC day lies before @cutoff
-- (retention, server/event_upkeep.c).  Dropping a partition locks events
-- itself: wait at most 1 s for that, so intake never queues behind a drop
-- for long (the next round retries).  @return the names dropped.
CREATE FUNCTION events_partitions_drop_before(cutoff date) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  part text;
BEGIN
  PERFORM set_config('lock_timeout', '1s', true);
  FOR part IN
    SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_[0-9]{8}$'
       AND to_date(substr(c.relname, 8), 'YYYYMMDD') < cutoff
     ORDER BY 1
  LOOP
    EXECUTE format('DROP TABLE %I', part);
    RETURN NEXT part;
  END LOOP;
END $$;

-- Gaps in an agent's event seq, as seen at intake (DESIGN §7).
CREATE TABLE event_seq_gaps (
  org_id      uuid NOT NULL,
  agent_id    uuid NOT NULL,
  from_seq    bigint NOT NULL,
  to_seq      bigint NOT NULL,
  detected_at timestamptz NOT NULL DEFAULT now(),
  CHECK (from_seq <= to_seq)
);
CREATE INDEX event_seq_gaps_agent ON event_seq_gaps (org_id, agent_id, detected_at);
