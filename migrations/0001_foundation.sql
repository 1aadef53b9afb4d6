-- 0001: organizations, API tokens, the platform admin credential, the audit log.
-- Never edit a landed migration; add a new file.

CREATE TABLE orgs (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug        text NOT NULL CHECK (slug ~ '^[a-z][a-z0-9-]{0,61}[a-z0-9]$' AND slug NOT LIKE '%--%'),
  name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  version     bigint NOT NULL DEFAULT 1,          -- bumped on every change; the ETag
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz,                        -- soft delete keeps the audit chain
  audit_seq   bigint NOT NULL DEFAULT 0,          -- seq of the last audit record
  audit_head  text NOT NULL DEFAULT repeat('0', 64) -- hash of the last audit record
);
-- A slug names one live org; a deleted org's slug may be reused.
CREATE UNIQUE INDEX orgs_slug_live ON orgs (slug) WHERE deleted_at IS NULL;
CREATE INDEX orgs_created ON orgs (created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE api_tokens (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id        uuid NOT NULL REFERENCES orgs (id),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  role          text NOT NULL CHECK (role IN ('owner', 'policy_admin', 'catalog_reviewer', 'auditor', 'viewer')),
  secret_sha256 text NOT NULL UNIQUE CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
  prefix        text NOT NULL,                    -- first characters of the secret, for display
  created_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX api_tokens_org ON api_tokens (org_id, created_at, id);

-- The platform admin credential: a single row holding the SHA-256 of the token.
CREATE TABLE platform_admin (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  token_sha256  text NOT NULL CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Append-only, hash-chained per org (DESIGN §3).  hash = SHA-256 over the
-- previous hash and the canonical JSON of the record (db/audit.c).
CREATE TABLE audit_log (
  org_id        uuid NOT NULL REFERENCES orgs (id),
  seq           bigint NOT NULL CHECK (seq > 0),
  id            uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
  time          timestamptz NOT NULL,
  actor         text NOT NULL,
  action        text NOT NULL,
  target_type   text NOT NULL,
  target_id     text NOT NULL,
  before_sha256 text,
  after_sha256  text,
  request_id    text NOT NULL,
  source_addr   text NOT NULL,
  prev_hash     text NOT NULL,
  hash          text NOT NULL,
  PRIMARY KEY (org_id, seq)
);
CREATE INDEX audit_log_time ON audit_log (org_id, time);
CREATE INDEX audit_log_actor ON audit_log (org_id, actor, seq);
CREATE INDEX audit_log_action ON audit_log (org_id, action, seq);
