/*
 * Unit tests of the pieces of the API that need no database and no HTTP:
 * the error registry (api/errors.def), the permission table
 * (api/permission.c, checked against the API contract's table) and the
 * audit chain hash (db/audit.c, checked against vectors computed
 * independently with Python's json + hashlib).
 */
#include "config.h"
#include "api/error.h"
#include "api/permission.h"
#include "db/audit.h"
#include "lib/canonical_json.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- error registry ---- */

START_TEST (test_error_codes_unique)
{
  for (size_t i = 0; i < BW_E__COUNT; i++)
    {
      const char *ci = bw_error_info ((enum bw_error) i)->code;
      ck_assert_ptr_nonnull (ci);
      ck_assert_uint_gt (strlen (ci), 0);
      for (size_t j = i + 1; j < BW_E__COUNT; j++)
        ck_assert_msg (0 != strcmp (ci, bw_error_info ((enum bw_error) j)->code),
                       "code %s appears twice", ci);
    }
}
END_TEST

START_TEST (test_error_status_and_text)
{
  for (size_t i = 0; i < BW_E__COUNT; i++)
    {
      const struct bw_error_info *e = bw_error_info ((enum bw_error) i);
      ck_assert_msg (e->status >= 400 && e->status <= 599, "%s has status %u", e->code,
                     e->status);
      ck_assert_msg (NULL != e->title && '\0' != e->title[0], "%s has no title", e->code);
      ck_assert_msg (NULL != e->doc && '\0' != e->doc[0], "%s has no doc", e->code);
      for (const char *c = e->code; '\0' != *c; c++)
        ck_assert_msg ((*c >= 'a' && *c <= 'z') || '_' == *c, "code %s is not snake_case",
                       e->code);
    }
}
END_TEST

/* The codes and statuses the API contract names: clients match on them. */
START_TEST (test_error_contract_codes)
{
  static const struct
  {
    enum bw_error e;
    const char *code;
    unsigned int status;
  } want[] = {
    { BW_E_MALFORMED_JSON, "malformed_json", 400 },
    { BW_E_VALIDATION, "validation_failed", 400 },
    { BW_E_AUTH_REQUIRED, "authentication_required", 401 },
    { BW_E_FORBIDDEN, "permission_denied", 403 },
    { BW_E_NOT_FOUND, "not_found", 404 },
    { BW_E_METHOD_NOT_ALLOWED, "method_not_allowed", 405 },
    { BW_E_CONFLICT, "conflict", 409 },
    { BW_E_PRECONDITION_FAILED, "precondition_failed", 412 },
    { BW_E_PAYLOAD_TOO_LARGE, "payload_too_large", 413 },
    { BW_E_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415 },
    { BW_E_LIMIT_EXCEEDED, "limit_exceeded", 409 },
    { BW_E_PRECONDITION_REQUIRED, "precondition_required", 428 },
    { BW_E_INTERNAL, "internal_error", 500 },
    { BW_E_DB_UNAVAILABLE, "database_unavailable", 503 },
    { BW_E_SHUTTING_DOWN, "shutting_down", 503 },
    { BW_E_AGENT_DISABLED, "agent_disabled", 403 },
    { BW_E_ENROLL_SECRET_INVALID, "enroll_secret_invalid", 401 },
    { BW_E_TOO_MANY_REQUESTS, "too_many_requests", 429 },
    { BW_E_INVALID_TRANSITION, "invalid_transition", 409 },
    { BW_E_CATALOG_ENTRY_EXISTS, "catalog_entry_exists", 409 },
  };
  /* every code of the registry is one the contract names */
  ck_assert_uint_eq (sizeof (want) / sizeof (want[0]), BW_E__COUNT);
  for (size_t i = 0; i < sizeof (want) / sizeof (want[0]); i++)
    {
      const struct bw_error_info *e = bw_error_info (want[i].e);
      ck_assert_str_eq (e->code, want[i].code);
      ck_assert_uint_eq (e->status, want[i].status);
    }
}
END_TEST

START_TEST (test_error_docs_markdown)
{
  char *md = bw_error_docs_markdown ();
  ck_assert_ptr_nonnull (md);
  for (size_t i = 0; i < BW_E__COUNT; i++)
    {
      const struct bw_error_info *e = bw_error_info ((enum bw_error) i);
      char heading[128];
      snprintf (heading, sizeof (heading), "\n## %s\n", e->code);
      ck_assert_msg (NULL != strstr (md, heading), "docs lack a section for %s", e->code);
      ck_assert_msg (NULL != strstr (md, e->doc), "docs lack the text of %s", e->code);
    }
  free (md);
}
END_TEST

/* ---- permission table ---- */

/* The API contract's table, row by row: owner, policy_admin,
   catalog_reviewer, auditor, viewer. */
static const struct
{
  enum bw_perm perm;
  const char *name;
  bool roles[BW_ROLE__COUNT];
} contract_perms[] = {
  { BW_PERM_ORG_READ, "org.read", { true, true, true, true, true } },
  { BW_PERM_ORG_WRITE, "org.write", { true, false, false, false, false } },
  { BW_PERM_TOKEN_READ, "token.read", { true, false, false, true, false } },
  { BW_PERM_TOKEN_WRITE, "token.write", { true, false, false, false, false } },
  { BW_PERM_AUDIT_READ, "audit.read", { true, false, false, true, false } },
  { BW_PERM_DIRECTORY_READ, "directory.read", { true, true, true, true, true } },
  { BW_PERM_DIRECTORY_WRITE, "directory.write", { true, true, false, false, false } },
  { BW_PERM_POLICY_READ, "policy.read", { true, true, true, true, true } },
  { BW_PERM_POLICY_WRITE, "policy.write", { true, true, false, false, false } },
  { BW_PERM_POLICY_EVALUATE, "policy.evaluate", { true, true, true, true, true } },
  { BW_PERM_AGENT_READ, "agent.read", { true, true, true, true, true } },
  { BW_PERM_AGENT_WRITE, "agent.write", { true, true, false, false, false } },
  { BW_PERM_KEY_WRITE, "key.write", { true, false, false, false, false } },
  { BW_PERM_CATALOG_READ, "catalog.read", { true, true, true, true, true } },
  { BW_PERM_CATALOG_REQUEST, "catalog.request", { true, true, true, true, true } },
  { BW_PERM_CATALOG_REVIEW, "catalog.review", { true, false, true, false, false } },
};

START_TEST (test_permission_table)
{
  size_t n = sizeof (contract_perms) / sizeof (contract_perms[0]);
  /* Every permission a role can hold is in the contract table; only NONE
     (public), PLATFORM and AGENT (an agent credential) are not. */
  ck_assert_uint_eq (n, BW_PERM__COUNT - 3);
  ck_assert (!bw_role_allows (BW_ROLE_OWNER, BW_PERM_AGENT));
  for (size_t i = 0; i < n; i++)
    {
      ck_assert_str_eq (bw_perm_name (contract_perms[i].perm), contract_perms[i].name);
      for (int r = 0; r < BW_ROLE__COUNT; r++)
        ck_assert_msg (bw_role_allows ((enum bw_role) r, contract_perms[i].perm)
                         == contract_perms[i].roles[r],
                       "%s for %s", contract_perms[i].name, bw_role_name ((enum bw_role) r));
    }
}
END_TEST

START_TEST (test_platform_never_granted)
{
  for (int r = 0; r < BW_ROLE__COUNT; r++)
    ck_assert (!bw_role_allows ((enum bw_role) r, BW_PERM_PLATFORM));
  ck_assert_str_eq (bw_perm_name (BW_PERM_PLATFORM), "platform");
}
END_TEST

START_TEST (test_role_names)
{
  static const char *const names[BW_ROLE__COUNT]
    = { "owner", "policy_admin", "catalog_reviewer", "auditor", "viewer" };
  for (int r = 0; r < BW_ROLE__COUNT; r++)
    {
      enum bw_role parsed;
      ck_assert_str_eq (bw_role_name ((enum bw_role) r), names[r]);
      ck_assert_int_eq (bw_role_parse (names[r], &parsed), 0);
      ck_assert_int_eq (parsed, r);
    }
  enum bw_role untouched = BW_ROLE_VIEWER;
  ck_assert_int_eq (bw_role_parse ("Owner", &untouched), -1);
  ck_assert_int_eq (bw_role_parse ("admin", &untouched), -1);
  ck_assert_int_eq (bw_role_parse ("", &untouched), -1);
  ck_assert_int_eq (untouched, BW_ROLE_VIEWER);
}
END_TEST

/* ---- audit chain hash ---- */

#define ORG_ID "5f0c3a2e-1b4d-4e6f-8a9b-0c1d2e3f4a5b"
#define SHA_AFTER "f39592393ef0859cb196a52693d2cea00fb2df784b3c04ae54aa7cadb8e562f8"
#define SHA_AFTER2 "caddf82b5b96c6121574fbe1e40945826c0dc6bb0a248c6002f31a48e9581ddb"
#define HASH1 "59d64a25001e5b18a58eb210271c6819f68422e3f806149e13d531fddfe092df"
#define HASH2 "11790833ee8521d9fda6c2db2e54e285f1bfaf5836cd05d759e6e59feb749496"

/* The first record of a chain: created by the platform admin. */
static struct db_audit_entry
first_entry (void)
{
  struct db_audit_entry e = {
    .seq = 1,
    .id = "0b6e4f52-7d2c-4c1e-9a57-3f0e8d1c2b4a",
    .time = "2026-11-29T12:00:00.123456Z",
    .rec = {
      .org_id = ORG_ID,
      .actor = "platform-admin",
      .action = "org.create",
      .target_type = "org",
      .target_id = ORG_ID,
      .before_sha256 = NULL,
      .after_sha256 = SHA_AFTER,
      .request_id = "req-1",
      .source_addr = "127.0.0.1",
    },
    .prev_hash = DB_AUDIT_GENESIS_HASH,
    .hash = "not read",
  };
  return e;
}

START_TEST (test_audit_record_canonical)
{
  struct db_audit_entry e = first_entry ();
  json_t *obj = db_audit_entry_json (&e);
  ck_assert_ptr_nonnull (obj);
  ck_assert_ptr_null (json_object_get (obj, "hash"));
  char *canon = bw_json_canonical (obj);
  json_decref (obj);
  ck_assert_ptr_nonnull (canon);
  ck_assert_str_eq (canon,
                    "{\"action\":\"org.create\",\"actor\":\"platform-admin\","
                    "\"after_sha256\":\"" SHA_AFTER "\",\"before_sha256\":null,"
                    "\"id\":\"0b6e4f52-7d2c-4c1e-9a57-3f0e8d1c2b4a\","
                    "\"prev_hash\":\"" DB_AUDIT_GENESIS_HASH "\",\"request_id\":\"req-1\","
                    "\"seq\":1,\"source_addr\":\"127.0.0.1\","
                    "\"target\":{\"id\":\"" ORG_ID "\",\"type\":\"org\"},"
                    "\"time\":\"2026-11-29T12:00:00.123456Z\"}");
  free (canon);
}
END_TEST

START_TEST (test_audit_hash_vectors)
{
  char hash[BW_SHA256_HEX_LEN + 1];
  struct db_audit_entry e1 = first_entry ();
  ck_assert_int_eq (db_audit_entry_hash (&e1, hash), 0);
  ck_assert_str_eq (hash, HASH1);

  struct db_audit_entry e2 = {
    .seq = 2,
    .id = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a",
    .time = "2026-11-29T12:00:01.000000Z",
    .rec = {
      .org_id = ORG_ID,
      .actor = "token:1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
      .action = "org.update",
      .target_type = "org",
      .target_id = ORG_ID,
      .before_sha256 = SHA_AFTER,
      .after_sha256 = SHA_AFTER2,
      .request_id = "req-2",
      .source_addr = "::1",
    },
    .prev_hash = HASH1,
  };
  ck_assert_int_eq (db_audit_entry_hash (&e2, hash), 0);
  ck_assert_str_eq (hash, HASH2);
}
END_TEST

/* Every hashed field is covered: changing any one changes the hash;
   org_id (not part of the record) and the stored hash do not. */
START_TEST (test_audit_hash_covers_fields)
{
  char base[BW_SHA256_HEX_LEN + 1];
  char hash[BW_SHA256_HEX_LEN + 1];
  struct db_audit_entry e = first_entry ();
  ck_assert_int_eq (db_audit_entry_hash (&e, base), 0);

  struct db_audit_entry v[12];
  for (size_t i = 0; i < 12; i++)
    v[i] = first_entry ();
  v[0].seq = 2;
  v[1].id = "0b6e4f52-7d2c-4c1e-9a57-3f0e8d1c2b4b";
  v[2].time = "2026-11-29T12:00:00.123457Z";
  v[3].rec.actor = "platform-admin2";
  v[4].rec.action = "org.update";
  v[5].rec.target_type = "token";
  v[6].rec.target_id = "x";
  v[7].rec.before_sha256 = SHA_AFTER;
  v[8].rec.after_sha256 = NULL;
  v[9].rec.request_id = "req-2";
  v[10].rec.source_addr = "127.0.0.2";
  v[11].prev_hash = HASH1;
  for (size_t i = 0; i < 12; i++)
    {
      ck_assert_int_eq (db_audit_entry_hash (&v[i], hash), 0);
      ck_assert_msg (0 != strcmp (hash, base), "variant %zu hashes like the original", i);
    }

  e.rec.org_id = "00000000-0000-0000-0000-000000000000";
  e.hash = "something else";
  ck_assert_int_eq (db_audit_entry_hash (&e, hash), 0);
  ck_assert_str_eq (hash, base);
}
END_TEST

START_TEST (test_audit_fault_reasons)
{
  ck_assert_ptr_null (db_audit_fault_reason (DB_AUDIT_CHAIN_OK));
  ck_assert_str_eq (db_audit_fault_reason (DB_AUDIT_HASH_MISMATCH), "hash mismatch");
  ck_assert_str_eq (db_audit_fault_reason (DB_AUDIT_PREV_MISMATCH), "prev_hash mismatch");
  ck_assert_str_eq (db_audit_fault_reason (DB_AUDIT_SEQUENCE_GAP), "sequence gap");
}
END_TEST

static Suite *
api_suite (void)
{
  Suite *s = suite_create ("api");
  TCase *errors = tcase_create ("errors");
  tcase_add_test (errors, test_error_codes_unique);
  tcase_add_test (errors, test_error_status_and_text);
  tcase_add_test (errors, test_error_contract_codes);
  tcase_add_test (errors, test_error_docs_markdown);
  suite_add_tcase (s, errors);
  TCase *perms = tcase_create ("permissions");
  tcase_add_test (perms, test_permission_table);
  tcase_add_test (perms, test_platform_never_granted);
  tcase_add_test (perms, test_role_names);
  suite_add_tcase (s, perms);
  TCase *audit = tcase_create ("audit");
  tcase_add_test (audit, test_audit_record_canonical);
  tcase_add_test (audit, test_audit_hash_vectors);
  tcase_add_test (audit, test_audit_hash_covers_fields);
  tcase_add_test (audit, test_audit_fault_reasons);
  suite_add_tcase (s, audit);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (api_suite ());
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return (0 == failed) ? EXIT_SUCCESS : EXIT_FAILURE;
}
