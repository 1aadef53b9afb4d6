/*
 * Queries of the policy aggregate (see db/policy.h).  A policy row holds
 * the summary of its current revision; the document lives in
 * policy_revisions, joined on (policy_id, current_revision).
 */
#include "config.h"
#include "db/policy.h"
#include "db/row.h"
#include "lib/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The columns policy_from_row reads, in its order (p: policies, r: its current revision). */
#define POLICY_COLUMNS \
  "p.id, p.name, p.mode, p.rule_count, p.current_revision, " DB_SQL_TS ("p.created_at") ", " \
  DB_SQL_TS ("p.updated_at") ", r.author, r.comment"
/* POLICY_COLUMNS and the document, column POLICY_DOC_COL. */
#define POLICY_COLUMNS_DOC POLICY_COLUMNS ", r.document::text"
#define POLICY_DOC_COL 9
/* The join of a policy with its current revision. */
#define POLICY_CURRENT_JOIN \
  " policies p JOIN policy_revisions r ON r.policy_id = p.id AND r.revision = p.current_revision"

/* The columns revision_from_row reads (r: policy_revisions); the document is REVISION_DOC_COL. */
#define REVISION_COLUMNS "r.revision, r.author, r.comment, " DB_SQL_TS ("r.created_at")
#define REVISION_DOC_COL 4

/* Bytes of a decimal int64 with sign and NUL. */
#define INT_TEXT_SIZE 24

void
db_policy_clear (struct db_policy *p)
{
  if (NULL == p)
    return;
  free (p->name);
  p->name = NULL;
  free (p->comment);
  p->comment = NULL;
  json_decref (p->document);
  p->document = NULL;
}

void
db_policy_revision_clear (struct db_policy_revision *r)
{
  if (NULL == r)
    return;
  free (r->comment);
  r->comment = NULL;
  json_decref (r->document);
  r->document = NULL;
}

/* Fill @a p from a POLICY_COLUMNS(_DOC) row; with the document when @a doc. */
static int
policy_from_row (const PGresult *res, int row, bool doc, struct db_policy *p)
{
  memset (p, 0, sizeof (*p));
  if (0 != db_col_text (res, row, 0, p->id, sizeof (p->id))
      || 0 != db_col_strdup (res, row, 1, &p->name)
      || 0 != db_col_text (res, row, 2, p->mode, sizeof (p->mode))
      || 0 != db_col_int64 (res, row, 3, &p->rule_count)
      || 0 != db_col_int64 (res, row, 4, &p->revision)
      || 0 != db_col_text (res, row, 5, p->created_at, sizeof (p->created_at))
      || 0 != db_col_text (res, row, 6, p->updated_at, sizeof (p->updated_at))
      || 0 != db_col_text (res, row, 7, p->author, sizeof (p->author))
      || 0 != db_col_strdup (res, row, 8, &p->comment)
      || (doc && 0 != db_col_json (res, row, POLICY_DOC_COL, true, &p->document)))
    {
      db_policy_clear (p);
      return -1;
    }
  return 0;
}

/* Fill @a r from a REVISION_COLUMNS row; with the document when @a doc. */
static int
revision_from_row (const PGresult *res, int row, bool doc, struct db_policy_revision *r)
{
  memset (r, 0, sizeof (*r));
  if (0 != db_col_int64 (res, row, 0, &r->revision)
      || 0 != db_col_text (res, row, 1, r->author, sizeof (r->author))
      || 0 != db_col_strdup (res, row, 2, &r->comment)
      || 0 != db_col_text (res, row, 3, r->created_at, sizeof (r->created_at))
      || (doc && 0 != db_col_json (res, row, REVISION_DOC_COL, true, &r->document)))
    {
      db_policy_revision_clear (r);
      return -1;
    }
  return 0;
}

/* db_rows_copy adapters: list rows carry no document. */
static int
summary_row (const PGresult *res, int row, void *item)
{
  return policy_from_row (res, row, false, item);
}

static void
policy_clear_item (void *item)
{
  db_policy_clear (item);
}

static int
revision_summary_row (const PGresult *res, int row, void *item)
{
  return revision_from_row (res, row, false, item);
}

static void
revision_clear_item (void *item)
{
  db_policy_revision_clear (item);
}

/* Run @a st, which returns at most one POLICY_COLUMNS_DOC row, into @a out. */
static enum db_qs
one_policy (struct db_stmt *st, int nparams, const char *const *params, struct db_policy *out)
{
  PGresult *res = NULL;
  enum db_qs qs = db_exec (st, nparams, params, &res);
  memset (out, 0, sizeof (*out));
  if (qs > 0 && 0 != policy_from_row (res, 0, true, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/*
 * A PostgreSQL array literal "{id,id,...}" of @a n canonical uuids.  Safe
 * without quoting: bw_uuid_valid admits hex digits and '-' only.
 * @return a malloc'd string, or NULL (an id is not a uuid, or no memory).
 */
static char *
uuid_array (const char *const *ids, size_t n)
{
  char *s = malloc (n * (BW_UUID_LEN + 1) + 3);
  size_t len = 0;
  if (NULL == s)
    return NULL;
  s[len++] = '{';
  for (size_t i = 0; i < n; i++)
    {
      if (!bw_uuid_valid (ids[i]))
        {
          bw_logf (BW_LOG_ERROR, "policies: not a uuid in an id list");
          free (s);
          return NULL;
        }
      if (i > 0)
        s[len++] = ',';
      memcpy (s + len, ids[i], BW_UUID_LEN);
      len += BW_UUID_LEN;
    }
  s[len++] = '}';
  s[len] = '\0';
  return s;
}

static struct db_stmt lock_org_stmt = DB_STMT ("policy_lock_org",
  "SELECT (SELECT count(*) FROM policies p WHERE p.org_id = o.id AND p.deleted_at IS NULL)"
  " FROM orgs o WHERE o.id = $1::uuid AND o.deleted_at IS NULL FOR NO KEY UPDATE OF o");

enum db_qs
db_policy_lock_org (const char *org_id, int64_t *live)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&lock_org_stmt, 1, params, &res);
  if (qs > 0 && 0 != db_col_int64 (res, 0, 0, live))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* The revision takes the policy's created_at, so both say when it was written. */
static struct db_stmt insert_stmt = DB_STMT ("policy_insert",
  "WITH p AS ("
  "  INSERT INTO policies (org_id, name, mode, rule_count, current_revision)"
  "  VALUES ($1::uuid, $3::text, $4::text, $5::integer, 1) RETURNING *),"
  " r AS ("
  "  INSERT INTO policy_revisions (org_id, policy_id, revision, document, author, comment,"
  "                                created_at)"
  "  SELECT p.org_id, p.id, 1, $2::jsonb, $6::text, $7::text, p.created_at FROM p RETURNING *)"
  " SELECT " POLICY_COLUMNS_DOC " FROM p JOIN r ON r.policy_id = p.id");

enum db_qs
db_policy_insert (const struct db_policy_write *w, struct db_policy *out)
{
  char rules[INT_TEXT_SIZE];
  snprintf (rules, sizeof (rules), "%zu", w->rule_count);
  const char *params[] = { w->org_id, w->document, w->name, w->mode, rules, w->author, w->comment };
  return one_policy (&insert_stmt, 7, params, out);
}

static struct db_stmt lock_stmt = DB_STMT ("policy_lock",
  "SELECT " POLICY_COLUMNS_DOC " FROM" POLICY_CURRENT_JOIN
  " WHERE p.org_id = $1::uuid AND p.id = $2::uuid AND p.deleted_at IS NULL FOR UPDATE OF p");

enum db_qs
db_policy_lock (const char *org_id, const char *id, struct db_policy *out)
{
  const char *params[] = { org_id, id };
  return one_policy (&lock_stmt, 2, params, out);
}

static struct db_stmt revise_stmt = DB_STMT ("policy_revise",
  "WITH p AS ("
  "  UPDATE policies SET name = $4::text, mode = $5::text, rule_count = $6::integer,"
  "   current_revision = current_revision + 1, updated_at = now ()"
  "  WHERE id = $1::uuid AND org_id = $2::uuid AND deleted_at IS NULL RETURNING *),"
  " r AS ("
  "  INSERT INTO policy_revisions (org_id, policy_id, revision, document, author, comment,"
  "                                created_at)"
  "  SELECT p.org_id, p.id, p.current_revision, $3::jsonb, $7::text, $8::text, p.updated_at"
  "  FROM p RETURNING *)"
  " SELECT " POLICY_COLUMNS_DOC " FROM p JOIN r ON r.policy_id = p.id");

enum db_qs
db_policy_revise (const char *id, const struct db_policy_write *w, struct db_policy *out)
{
  char rules[INT_TEXT_SIZE];
  snprintf (rules, sizeof (rules), "%zu", w->rule_count);
  const char *params[] = {
    id, w->org_id, w->document, w->name, w->mode, rules, w->author, w->comment,
  };
  return one_policy (&revise_stmt, 8, params, out);
}

static struct db_stmt delete_stmt = DB_STMT ("policy_delete",
  "UPDATE policies SET deleted_at = now (), updated_at = now ()"
  " WHERE org_id = $1::uuid AND id = $2::uuid AND deleted_at IS NULL");

enum db_qs
db_policy_delete (const char *org_id, const char *id)
{
  const char *params[] = { org_id, id };
  return db_exec (&delete_stmt, 2, params, NULL);
}

static struct db_stmt get_stmt = DB_STMT ("policy_get",
  "SELECT " POLICY_COLUMNS_DOC " FROM" POLICY_CURRENT_JOIN
  " WHERE p.org_id = $1::uuid AND p.id = $2::uuid AND p.deleted_at IS NULL");

enum db_qs
db_policy_get (const char *org_id, const char *id, struct db_policy *out)
{
  const char *params[] = { org_id, id };
  return one_policy (&get_stmt, 2, params, out);
}

static struct db_stmt current_revision_stmt = DB_STMT ("policy_current_revision",
  "SELECT current_revision FROM policies"
  " WHERE org_id = $1::uuid AND id = $2::uuid AND deleted_at IS NULL");

enum db_qs
db_policy_current_revision (const char *org_id, const char *id, int64_t *revision)
{
  const char *params[] = { org_id, id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&current_revision_stmt, 2, params, &res);
  if (qs > 0 && 0 != db_col_int64 (res, 0, 0, revision))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* Both pages are served by the index policies_org_live (org_id, created_at, id). */
static struct db_stmt list_first_stmt = DB_STMT ("policy_list_first",
  "SELECT " POLICY_COLUMNS " FROM" POLICY_CURRENT_JOIN
  " WHERE p.org_id = $1::uuid AND p.deleted_at IS NULL"
  " ORDER BY p.created_at, p.id LIMIT $2::integer");

static struct db_stmt list_after_stmt = DB_STMT ("policy_list_after",
  "SELECT " POLICY_COLUMNS " FROM" POLICY_CURRENT_JOIN
  " WHERE p.org_id = $1::uuid AND p.deleted_at IS NULL"
  "   AND (p.created_at, p.id) > ($3::timestamptz, $4::uuid)"
  " ORDER BY p.created_at, p.id LIMIT $2::integer");

enum db_qs
db_policy_list (const char *org_id, const char *after_created_at, const char *after_id,
                unsigned int limit, struct db_policy **items, size_t *n)
{
  char lim[INT_TEXT_SIZE];
  const char *params[] = { org_id, lim, after_created_at, after_id };
  PGresult *res = NULL;
  enum db_qs qs;

  *items = NULL;
  *n = 0;
  snprintf (lim, sizeof (lim), "%u", limit);
  if (NULL == after_created_at)
    qs = db_exec (&list_first_stmt, 2, params, &res);
  else
    qs = db_exec (&list_after_stmt, 4, params, &res);
  void *arr = NULL;
  if (qs > 0
      && 0 != db_rows_copy (res, (size_t) qs, sizeof (struct db_policy), summary_row,
                            policy_clear_item, &arr))
    qs = DB_QS_HARD_ERROR;
  else if (qs > 0)
    {
      *items = arr;
      *n = (size_t) qs;
    }
  PQclear (res);
  return qs;
}

static struct db_stmt revision_get_stmt = DB_STMT ("policy_revision_get",
  "SELECT " REVISION_COLUMNS ", r.document::text"
  " FROM policy_revisions r JOIN policies p ON p.id = r.policy_id"
  " WHERE p.org_id = $1::uuid AND p.id = $2::uuid AND p.deleted_at IS NULL"
  "   AND r.revision = $3::integer");

enum db_qs
db_policy_revision_get (const char *org_id, const char *id, int64_t revision,
                        struct db_policy_revision *out)
{
  char rev[INT_TEXT_SIZE];
  snprintf (rev, sizeof (rev), "%" PRId64, revision);
  const char *params[] = { org_id, id, rev };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&revision_get_stmt, 3, params, &res);
  memset (out, 0, sizeof (*out));
  if (qs > 0 && 0 != revision_from_row (res, 0, true, out))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/* Served by the primary key (policy_id, revision), backwards. */
static struct db_stmt revision_list_stmt = DB_STMT ("policy_revision_list",
  "SELECT " REVISION_COLUMNS
  " FROM policy_revisions r JOIN policies p ON p.id = r.policy_id"
  " WHERE p.org_id = $1::uuid AND p.id = $2::uuid AND p.deleted_at IS NULL"
  "   AND ($3::integer = 0 OR r.revision < $3::integer)"
  " ORDER BY r.revision DESC LIMIT $4::integer");

enum db_qs
db_policy_revision_list (const char *org_id, const char *id, int64_t before, unsigned int limit,
                         struct db_policy_revision **items, size_t *n)
{
  char bef[INT_TEXT_SIZE];
  char lim[INT_TEXT_SIZE];
  snprintf (bef, sizeof (bef), "%" PRId64, before);
  snprintf (lim, sizeof (lim), "%u", limit);
  const char *params[] = { org_id, id, bef, lim };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&revision_list_stmt, 4, params, &res);

  *items = NULL;
  *n = 0;
  void *arr = NULL;
  if (qs > 0
      && 0 != db_rows_copy (res, (size_t) qs, sizeof (struct db_policy_revision),
                            revision_summary_row, revision_clear_item, &arr))
    qs = DB_QS_HARD_ERROR;
  else if (qs > 0)
    {
      *items = arr;
      *n = (size_t) qs;
    }
  PQclear (res);
  return qs;
}

/*
 * WITH ORDINALITY numbers each list from 1; a group or user "exists" when
 * the directory has it in this org (deleted rows are gone from the
 * directory's tables).
 */
static struct db_stmt scope_missing_stmt = DB_STMT ("policy_scope_missing",
  "SELECT 0 AS kind, g.ord FROM unnest ($2::uuid[]) WITH ORDINALITY AS g (id, ord)"
  " WHERE NOT EXISTS (SELECT 1 FROM groups x WHERE x.org_id = $1::uuid AND x.id = g.id)"
  " UNION ALL"
  " SELECT 1, u.ord FROM unnest ($3::uuid[]) WITH ORDINALITY AS u (id, ord)"
  " WHERE NOT EXISTS (SELECT 1 FROM users x WHERE x.org_id = $1::uuid AND x.id = u.id)"
  " ORDER BY 1, 2");

enum db_qs
db_policy_scope_missing (const char *org_id, const char *const *groups, size_t ngroups,
                         const char *const *users, size_t nusers, db_policy_scope_cb cb,
                         void *cls)
{
  char *g = uuid_array (groups, ngroups);
  char *u = uuid_array (users, nusers);
  enum db_qs qs = DB_QS_HARD_ERROR;
  PGresult *res = NULL;
  if (NULL == g || NULL == u)
    goto cleanup;
  {
    const char *params[] = { org_id, g, u };
    qs = db_exec (&scope_missing_stmt, 3, params, &res);
  }
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    {
      int64_t kind;
      int64_t ord;
      if (0 != db_col_int64 (res, i, 0, &kind) || 0 != db_col_int64 (res, i, 1, &ord) || ord < 1)
        {
          qs = DB_QS_HARD_ERROR;
          break;
        }
      cb (cls, (0 == kind) ? DB_POLICY_SCOPE_GROUP : DB_POLICY_SCOPE_USER, (size_t) (ord - 1));
    }
cleanup:
  PQclear (res);
  free (g);
  free (u);
  return qs;
}

static struct db_stmt subjects_stmt = DB_STMT ("policy_subjects",
  "SELECT u.id, u.active,"
  "  coalesce (array_agg (m.group_id ORDER BY m.group_id)"
  "            FILTER (WHERE m.group_id IS NOT NULL), '{}')::text"
  " FROM users u LEFT JOIN group_members m ON m.org_id = u.org_id AND m.user_id = u.id"
  " WHERE u.org_id = $1::uuid AND u.id = ANY ($2::uuid[])"
  " GROUP BY u.id, u.active");

enum db_qs
db_policy_subjects (const char *org_id, const char *const *ids, size_t n,
                    db_policy_subject_cb cb, void *cls)
{
  char *arr = uuid_array (ids, n);
  PGresult *res = NULL;
  enum db_qs qs = DB_QS_HARD_ERROR;
  if (NULL == arr)
    return qs;
  const char *params[] = { org_id, arr };
  qs = db_exec (&subjects_stmt, 2, params, &res);
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    {
      char *text;
      const char **groups;
      long ng = db_col_uuid_array (res, i, 2, &text, &groups);
      if (ng < 0)
        {
          bw_logf (BW_LOG_ERROR, "policies: cannot read the groups of a user");
          qs = DB_QS_HARD_ERROR;
          break;
        }
      struct db_policy_subject s = {
        .id = PQgetvalue (res, i, 0),
        .active = db_col_bool (res, i, 1),
        .ngroups = (size_t) ng,
        .groups = groups,
      };
      cb (cls, &s);
      free (groups);
      free (text);
    }
  PQclear (res);
  free (arr);
  return qs;
}

static struct db_stmt org_version_stmt = DB_STMT ("policy_org_version",
  "SELECT policy_version FROM orgs WHERE id = $1::uuid AND deleted_at IS NULL");

enum db_qs
db_policy_org_version (const char *org_id, int64_t *version)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&org_version_stmt, 1, params, &res);
  if (qs > 0 && 0 != db_col_int64 (res, 0, 0, version))
    qs = DB_QS_HARD_ERROR;
  PQclear (res);
  return qs;
}

/*
 * The org row is always there (LEFT JOIN), with NULL policy columns when
 * the org has no live policy; ONE statement, so the version and the
 * documents come from one snapshot.
 */
static struct db_stmt load_current_stmt = DB_STMT ("policy_load_current",
  "SELECT o.policy_version, p.id, p.current_revision, r.document::text"
  " FROM orgs o"
  " LEFT JOIN (policies p JOIN policy_revisions r"
  "            ON r.policy_id = p.id AND r.revision = p.current_revision)"
  "   ON p.org_id = o.id AND p.deleted_at IS NULL"
  " WHERE o.id = $1::uuid AND o.deleted_at IS NULL"
  " ORDER BY p.created_at, p.id");

enum db_qs
db_policy_load_current (const char *org_id, int64_t *version, db_policy_current_cb cb, void *cls)
{
  const char *params[] = { org_id };
  PGresult *res = NULL;
  enum db_qs qs = db_exec (&load_current_stmt, 1, params, &res);
  if (qs > 0 && 0 != db_col_int64 (res, 0, 0, version))
    qs = DB_QS_HARD_ERROR;
  for (int i = 0; qs > 0 && i < (int) qs; i++)
    {
      struct db_policy_current c;
      if (PQgetisnull (res, i, 1))
        continue;
      if (0 != db_col_int64 (res, i, 2, &c.revision))
        {
          qs = DB_QS_HARD_ERROR;
          break;
        }
      c.id = PQgetvalue (res, i, 1);
      c.document = PQgetvalue (res, i, 3);
      c.document_len = (size_t) PQgetlength (res, i, 3);
      cb (cls, &c);
    }
  PQclear (res);
  return (qs > 0) ? DB_QS_ONE_RESULT : qs;
}
