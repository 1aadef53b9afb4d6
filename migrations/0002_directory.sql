-- 0002: the directory (DESIGN §3): users and groups with their members,
-- shaped like SCIM 2.0 resources (RFC 7643 §4.1 User, §4.2 Group) so that
-- the SCIM endpoints of a later release fill these same tables; and the
-- org's policy version.
-- Never edit a landed migration; add a new file.

-- What agents enforce changes whenever this goes up: bumped, with a NOTIFY,
-- in the transaction of every change that can alter which policies apply
-- (db/policy_version.c): policies, group membership, a user's active flag.
ALTER TABLE orgs ADD COLUMN policy_version bigint NOT NULL DEFAULT 0;

-- Directory sizes, kept by the triggers below, so that the per-org limits
-- (db/directory.h) are checked without counting rows.
ALTER TABLE orgs ADD COLUMN user_count bigint NOT NULL DEFAULT 0 CHECK (user_count >= 0);
ALTER TABLE orgs ADD COLUMN group_count bigint NOT NULL DEFAULT 0 CHECK (group_count >= 0);

-- SCIM User.  user_name is unique per org without regard to case (RFC 7643
-- §4.1.1: "caseExact": false); emails is the SCIM multi-valued attribute as
-- the API normalized it: [{"value", "type"?, "primary"}].  A user is deleted
-- for real: audit records keep its id and digests.
CREATE TABLE users (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id        uuid NOT NULL REFERENCES orgs (id),
  user_name     text NOT NULL CHECK (octet_length(user_name) BETWEEN 1 AND 256),
  display_name  text CHECK (octet_length(display_name) BETWEEN 1 AND 256),
  external_id   text CHECK (octet_length(external_id) BETWEEN 1 AND 256),
  active        boolean NOT NULL DEFAULT true,
  emails        jsonb NOT NULL DEFAULT '[]'
                CHECK (jsonb_typeof(emails) = 'array' AND jsonb_array_length(emails) <= 10),
  version       bigint NOT NULL DEFAULT 1,          -- bumped on every change; the ETag
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id)                               -- target of group_members' foreign key
);
CREATE UNIQUE INDEX users_user_name ON users (org_id, lower(user_name));
-- SCIM clients find their resources by externalId (RFC 7644 §3.4.2.2 filters).
CREATE INDEX users_external_id ON users (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_org_created ON users (org_id, created_at, id);

-- SCIM Group.  display_name is unique per org without regard to case.
-- member_count and version follow group_members (trigger below): a change
-- of members is a change of the group (SCIM `members` is its attribute).
CREATE TABLE groups (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id        uuid NOT NULL REFERENCES orgs (id),
  display_name  text NOT NULL CHECK (octet_length(display_name) BETWEEN 1 AND 256),
  external_id   text CHECK (octet_length(external_id) BETWEEN 1 AND 256),
  member_count  bigint NOT NULL DEFAULT 0 CHECK (member_count >= 0),
  version       bigint NOT NULL DEFAULT 1,          -- bumped on every change; the ETag
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, id)                               -- target of group_members' foreign key
);
CREATE UNIQUE INDEX groups_display_name ON groups (org_id, lower(display_name));
CREATE INDEX groups_external_id ON groups (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_org_created ON groups (org_id, created_at, id);

-- Which users are in which group.  The foreign keys carry org_id, so the
-- database itself refuses a member from another org; deleting a user or a
-- group removes its memberships.  The policy engine reads a user's groups
-- through group_members_user.
CREATE TABLE group_members (
  org_id    uuid NOT NULL,
  group_id  uuid NOT NULL,
  user_id   uuid NOT NULL,
  added_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, user_id),
  FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
  FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user ON group_members (org_id, user_id, group_id);

-- orgs.user_count and orgs.group_count.  A row's org_id never changes.
CREATE FUNCTION directory_count_users () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE orgs SET user_count = user_count + 1 WHERE id = NEW.org_id;
  ELSE
    UPDATE orgs SET user_count = user_count - 1 WHERE id = OLD.org_id;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER users_count AFTER INSERT OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION directory_count_users ();

CREATE FUNCTION directory_count_groups () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE orgs SET group_count = group_count + 1 WHERE id = NEW.org_id;
  ELSE
    UPDATE orgs SET group_count = group_count - 1 WHERE id = OLD.org_id;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER groups_count AFTER INSERT OR DELETE ON groups
  FOR EACH ROW EXECUTE FUNCTION directory_count_groups ();

-- groups.member_count, version and updated_at.  When a group is deleted, its
-- memberships go by cascade after its row: the UPDATE then finds no row.
CREATE FUNCTION directory_count_members () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE groups SET member_count = member_count + 1, version = version + 1, updated_at = now()
      WHERE id = NEW.group_id;
  ELSE
    UPDATE groups SET member_count = member_count - 1, version = version + 1, updated_at = now()
      WHERE id = OLD.group_id;
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER group_members_count AFTER INSERT OR DELETE ON group_members
  FOR EACH ROW EXECUTE FUNCTION directory_count_members ();
