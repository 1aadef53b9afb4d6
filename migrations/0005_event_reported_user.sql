-- 0005: keep the user a decision event names apart from what the credential proves.
-- events.user_id holds only the directory user of an agent enrolled for a user (taken from
-- its credential); an agent enrolled without a user may report the local account it saw,
-- which is stored as reported_user and never looks like a verified user.
-- Never edit a landed migration; add a new file.
ALTER TABLE events ADD COLUMN reported_user text CHECK (octet_length(reported_user) <= 256);
