-- 0003: policies and their immutable revisions (DESIGN §4).
-- Never edit a landed migration; add a new file.

-- One row per policy: its identity and a summary of the current revision
-- (name, mode and rule count are copied from that revision's document when
-- it is written, so lists need not read documents).  Deleting a policy is a
-- soft delete: the row and every revision stay, because audit records name
-- the policy and decision events name its revisions; a deleted policy is
-- 404 in the API and applies to nobody.
CREATE TABLE policies (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id            uuid NOT NULL REFERENCES orgs (id),
  name              text NOT NULL CHECK (length(name) >= 1),
  mode              text NOT NULL CHECK (mode IN ('enforce', 'audit')),
  rule_count        integer NOT NULL CHECK (rule_count >= 0),
  current_revision  integer NOT NULL CHECK (current_revision >= 1),
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  deleted_at        timestamptz
);
-- Lists (keyset on created_at, id), counts against the per-org limit, and
-- loading an org's live policies for evaluation.
CREATE INDEX policies_org_live ON policies (org_id, created_at, id) WHERE deleted_at IS NULL;

-- Every version of every policy, never changed once written: a change, and
-- a rollback, add the next revision.  The document is stored as the client
-- sent it (validated, not normalized).
CREATE TABLE policy_revisions (
  org_id      uuid NOT NULL REFERENCES orgs (id),
  policy_id   uuid NOT NULL REFERENCES policies (id),
  revision    integer NOT NULL CHECK (revision >= 1),
  document    jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object'),
  author      text NOT NULL,                    -- actor: "platform-admin" or "token:<uuid>"
  comment     text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (policy_id, revision)
);

-- Revisions are immutable: the database refuses to change or remove one.
CREATE FUNCTION policy_revisions_immutable () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'policy revisions are immutable' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER policy_revisions_immutable BEFORE UPDATE OR DELETE ON policy_revisions
  FOR EACH ROW EXECUTE FUNCTION policy_revisions_immutable ();
