-- 0006: the MCP catalog and its approval workflow (DESIGN §5).
-- Never edit a landed migration; add a new file.

-- One row pins one MCP server version and identity.  definition is the
-- normalized entry document of lib/catalog.h (name, version, kind,
-- identity, inputs, tools with their approved/blocked states); name,
-- version, kind and pin_sha256 repeat what is needed to look entries up.
-- pin_sha256 = bw_catalog_pin_sha256 of the definition: what pins the
-- server (name, version, kind, identity, tools without their states).
-- States (api/catalog.c holds the transition table):
--   requested -> in_review -> approved | rejected
--   approved  -> suspended (and back), revoked, deprecated
--   suspended -> revoked, deprecated
-- and an approved or suspended entry whose expires_at passed is deprecated by
-- the expiry job (server/catalog_expiry.c), which sets expired_at.
-- A changed version, identity or tool list of a live entry is a new row in
-- requested whose supersedes names the live one; approving it deprecates
-- that one, so each name has at most one approved or suspended entry.
CREATE TABLE catalog_entries (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id            uuid NOT NULL REFERENCES orgs (id),
  name              text NOT NULL CHECK (octet_length(name) BETWEEN 3 AND 200),
  version           text NOT NULL CHECK (octet_length(version) BETWEEN 1 AND 255),
  kind              text NOT NULL CHECK (kind IN ('image', 'remote', 'package')),
  pin_sha256        text NOT NULL CHECK (pin_sha256 ~ '^[0-9a-f]{64}$'),
  definition        jsonb NOT NULL,
  source            jsonb,                              -- the imported server.json, as given
  state             text NOT NULL DEFAULT 'requested'
                    CHECK (state IN ('requested', 'in_review', 'approved', 'rejected',
                                     'suspended', 'revoked', 'deprecated')),
  reason            text NOT NULL CHECK (octet_length(reason) BETWEEN 1 AND 2000),
  requested_by      text NOT NULL,                      -- actor (token:<id>, agent:<id>, ...)
  requested_by_user uuid,                               -- the developer, when known (no foreign
                                                        -- key: the request outlives the user)
  review_note       text CHECK (octet_length(review_note) <= 2000),
  reviewed_by       text,
  reviewed_at       timestamptz,
  expires_at        timestamptz,                        -- the approval's end, when given
  expired_at        timestamptz,                        -- when the expiry job deprecated it
  supersedes        uuid REFERENCES catalog_entries (id),
  revision          bigint NOT NULL DEFAULT 1,          -- bumped on every change; the ETag
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_entries_org ON catalog_entries (org_id, created_at, id);
CREATE INDEX catalog_entries_name ON catalog_entries (org_id, name, created_at);
CREATE INDEX catalog_entries_queue ON catalog_entries (org_id, created_at, id)
  WHERE state IN ('requested', 'in_review');
CREATE UNIQUE INDEX catalog_entries_live ON catalog_entries (org_id, name)
  WHERE state IN ('approved', 'suspended');

-- A developer's own API token (DESIGN §3): bound to a directory user, it
-- acts as that user, e.g. when requesting an MCP server.  No foreign key
-- (users are deleted outright): deactivating or deleting the user revokes
-- the token instead, as it does the user's agents (0004).
ALTER TABLE api_tokens ADD COLUMN user_id uuid;
CREATE INDEX api_tokens_user ON api_tokens (org_id, user_id) WHERE user_id IS NOT NULL;
CREATE FUNCTION users_revoke_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    UPDATE api_tokens SET revoked_at = now()
     WHERE org_id = OLD.org_id AND user_id = OLD.id AND revoked_at IS NULL;
    RETURN OLD;
  END IF;
  IF OLD.active AND NOT NEW.active THEN
    UPDATE api_tokens SET revoked_at = now()
     WHERE org_id = NEW.org_id AND user_id = NEW.id AND revoked_at IS NULL;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER users_revoke_tokens BEFORE UPDATE OF active OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION users_revoke_tokens();
