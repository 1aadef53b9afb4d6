/*
 * Unit tests of lib/text (UTF-8 well-formedness per RFC 3629, control
 * characters, blank and padded text) and lib/email (address syntax with
 * look-alikes at every boundary, and the validation of a SCIM-shaped
 * `emails` list with its error pointers).
 */
#include "config.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/email.h"
#include "lib/text.h"

#define ARRAY_LEN(a) (sizeof (a) / sizeof ((a)[0]))

/* ---- text ---- */

static const struct
{
  const char *s;
  size_t len; /* 0: strlen (s) */
  enum bw_text_fault want;
} text_table[] = {
  { "Alice", 0, BW_TEXT_OK },
  { "a", 0, BW_TEXT_OK },
  { "Zoë Ünal", 0, BW_TEXT_OK },
  { "\xe6\x97\xa5\xe6\x9c\xac", 0, BW_TEXT_OK }, /* 日本 */
  { "\xf0\x9f\x94\x92 vault", 0, BW_TEXT_OK },   /* U+1F512, 4 bytes */
  { "a b", 0, BW_TEXT_OK },                      /* inner space */
  { "\xef\xbf\xbf", 0, BW_TEXT_OK },             /* U+FFFF: a noncharacter, still well-formed */
  { "\xf4\x8f\xbf\xbf", 0, BW_TEXT_OK },         /* U+10FFFF, the last scalar value */
  { "", 0, BW_TEXT_BLANK },
  { " ", 0, BW_TEXT_BLANK },
  { "\xc2\xa0\xe3\x80\x80", 0, BW_TEXT_BLANK }, /* NBSP, IDEOGRAPHIC SPACE */
  { " a", 0, BW_TEXT_PADDED },
  { "a ", 0, BW_TEXT_PADDED },
  { "a\xe2\x80\xa8", 0, BW_TEXT_PADDED }, /* LINE SEPARATOR at the end */
  { "\xe2\x80\x83Z", 0, BW_TEXT_PADDED }, /* EM SPACE at the start */
  { "\xef\xbb\xbfZ", 0, BW_TEXT_PADDED }, /* a byte order mark at the start */
  { "\xef\xbb\xbf", 0, BW_TEXT_BLANK },
  { "a\xe2\x80\xa8z", 0, BW_TEXT_OK }, /* inner LINE SEPARATOR */
  { "a\tb", 0, BW_TEXT_CONTROL },
  { "a\nb", 0, BW_TEXT_CONTROL },
  { "\x7f", 0, BW_TEXT_CONTROL },                  /* DEL */
  { "a\xc2\x85", 0, BW_TEXT_CONTROL },             /* NEL, U+0085 (C1) */
  { "a\xc2\x9f", 0, BW_TEXT_CONTROL },             /* U+009F, last C1 */
  { "a\0b", 3, BW_TEXT_CONTROL },                  /* an embedded NUL */
  { "\t", 0, BW_TEXT_CONTROL },                    /* control wins over blank */
  { "\xc0\xaf", 0, BW_TEXT_INVALID_UTF8 },         /* overlong '/' */
  { "\xc1\xbf", 0, BW_TEXT_INVALID_UTF8 },         /* overlong */
  { "\xe0\x80\xaf", 0, BW_TEXT_INVALID_UTF8 },     /* overlong, 3 bytes */
  { "\xf0\x80\x80\xaf", 0, BW_TEXT_INVALID_UTF8 }, /* overlong, 4 bytes */
  { "\xed\xa0\x80", 0, BW_TEXT_INVALID_UTF8 },     /* U+D800, a surrogate */
  { "\xed\xbf\xbf", 0, BW_TEXT_INVALID_UTF8 },     /* U+DFFF */
  { "\xf4\x90\x80\x80", 0, BW_TEXT_INVALID_UTF8 }, /* U+110000 */
  { "\xf5\x80\x80\x80", 0, BW_TEXT_INVALID_UTF8 },
  { "\xff", 0, BW_TEXT_INVALID_UTF8 },
  { "\x80", 0, BW_TEXT_INVALID_UTF8 },         /* a lone continuation byte */
  { "a\xc3", 0, BW_TEXT_INVALID_UTF8 },        /* truncated at the end */
  { "\xe6\x97", 0, BW_TEXT_INVALID_UTF8 },     /* truncated */
  { "\xe6\x97Z", 0, BW_TEXT_INVALID_UTF8 },    /* continuation expected */
  { "\xe6\x97\xa5", 2, BW_TEXT_INVALID_UTF8 }, /* cut by the length */
  { " \xff", 0, BW_TEXT_INVALID_UTF8 },        /* invalid wins over the rest */
};

START_TEST (test_text_table)
{
  const char *s = text_table[_i].s;
  size_t len = (0 != text_table[_i].len) ? text_table[_i].len : strlen (s);
  ck_assert_msg (bw_text_check (s, len) == text_table[_i].want, "row %d: got %d, want %d", _i,
                 (int) bw_text_check (s, len), (int) text_table[_i].want);
}
END_TEST

START_TEST (test_text_messages)
{
  ck_assert_ptr_null (bw_text_fault_message (BW_TEXT_OK));
  for (int f = BW_TEXT_INVALID_UTF8; f <= BW_TEXT_PADDED; f++)
    {
      const char *m = bw_text_fault_message ((enum bw_text_fault) f);
      ck_assert_ptr_nonnull (m);
      ck_assert (0 == strncmp (m, "must ", 5));
    }
}
END_TEST

/* ---- email addresses ---- */

static const struct
{
  const char *s;
  bool valid;
} email_table[] = {
  { "a@example.com", true },
  { "first.last@example.com", true },
  { "first.last+tag@sub.example.co.uk", true },
  { "o'brien@example.ie", true },
  { "A_B-c!#$%&*=?^`{|}~/@EXAMPLE.COM", true },
  { "x@xn--bcher-kva.example", true }, /* an A-label */
  { "a@123.example", true },           /* digits, but not the last label */
  { "a@example.c0m", true },
  { "a@e-x.com", true },
  { "plain", false },
  { "", false },
  { "@example.com", false },
  { "a@", false },
  { "a@@example.com", false },
  { "a@b@example.com", false },
  { ".a@example.com", false },
  { "a.@example.com", false },
  { "a..b@example.com", false },
  { "a b@example.com", false },
  { "\"a b\"@example.com", false }, /* quoted local parts: not supported */
  { "a(comment)@example.com", false },
  { "a,b@example.com", false },
  { "a;b@example.com", false },
  { "a\\b@example.com", false },
  { "\xc3\xa4@example.com", false }, /* SMTPUTF8: refused */
  { "a@ex\xc3\xa4mple.com", false }, /* a U-label: refused */
  { "a@localhost", false },          /* one label */
  { "a@-example.com", false },
  { "a@example-.com", false },
  { "a@example..com", false },
  { "a@.example.com", false },
  { "a@example.com.", false }, /* trailing dot */
  { "a@1.2.3.4", false },      /* an address, not a name */
  { "a@[127.0.0.1]", false },
  { "a@example.123", false },
  { "a@ex_ample.com", false },
  { "a@exa mple.com", false },
  { "a@example.com ", false },
  { " a@example.com", false },
  { "a@example.com\n", false },
};

START_TEST (test_email_table)
{
  ck_assert_msg (bw_email_valid (email_table[_i].s) == email_table[_i].valid, "%s: want %s",
                 email_table[_i].s, email_table[_i].valid ? "valid" : "invalid");
}
END_TEST

/* A string of @a n copies of @a c (static buffer, n < 512). */
static const char *
rep (char c, size_t n)
{
  static char buf[4][512];
  static int k;
  char *b = buf[k++ % 4];
  memset (b, c, n);
  b[n] = '\0';
  return b;
}

START_TEST (test_email_lengths)
{
  char s[600];

  ck_assert (!bw_email_valid (NULL));
  /* local part: 64 bytes fit, 65 do not */
  snprintf (s, sizeof (s), "%s@example.com", rep ('x', BW_EMAIL_LOCAL_MAX));
  ck_assert (bw_email_valid (s));
  snprintf (s, sizeof (s), "%s@example.com", rep ('x', BW_EMAIL_LOCAL_MAX + 1));
  ck_assert (!bw_email_valid (s));
  /* a label: 63 bytes fit, 64 do not */
  snprintf (s, sizeof (s), "a@%s.com", rep ('l', BW_EMAIL_LABEL_MAX));
  ck_assert (bw_email_valid (s));
  snprintf (s, sizeof (s), "a@%s.com", rep ('l', BW_EMAIL_LABEL_MAX + 1));
  ck_assert (!bw_email_valid (s));
  /* the whole address: 254 bytes fit, 255 do not (local 64 + '@' + 189 or 190) */
  snprintf (s, sizeof (s), "%s@%s.%s.%s", rep ('x', 64), rep ('a', 63), rep ('b', 63),
            rep ('c', 61));
  ck_assert_uint_eq (strlen (s), BW_EMAIL_MAX);
  ck_assert (bw_email_valid (s));
  snprintf (s, sizeof (s), "%s@%s.%s.%s", rep ('x', 64), rep ('a', 63), rep ('b', 63),
            rep ('c', 62));
  ck_assert_uint_eq (strlen (s), BW_EMAIL_MAX + 1);
  ck_assert (!bw_email_valid (s));
}
END_TEST

/* ---- email lists ---- */

/* Normalize the JSON text @a in; compare with @a want (JSON text, or NULL for
   invalid) and the error pointers with @a pointers ("a b c"). */
static void
check_list (const char *in, const char *want, const char *pointers)
{
  json_error_t err;
  json_t *v = json_loads (in, 0, &err);
  json_t *errors = json_array ();
  char got_ptrs[512] = "";

  ck_assert_msg (NULL != v, "bad test JSON %s", in);
  json_t *out = bw_emails_normalize (v, "/emails", errors);
  for (size_t i = 0; i < json_array_size (errors); i++)
    {
      const char *p = json_string_value (json_object_get (json_array_get (errors, i), "pointer"));
      ck_assert_ptr_nonnull (p);
      ck_assert_ptr_nonnull (
        json_string_value (json_object_get (json_array_get (errors, i), "message")));
      strncat (got_ptrs, (0 == i) ? "" : " ", sizeof (got_ptrs) - strlen (got_ptrs) - 1);
      strncat (got_ptrs, p, sizeof (got_ptrs) - strlen (got_ptrs) - 1);
    }
  if (NULL == want)
    {
      ck_assert_msg (NULL == out, "%s: accepted", in);
      ck_assert_str_eq (got_ptrs, pointers);
    }
  else
    {
      json_t *w = json_loads (want, 0, &err);
      ck_assert_msg (NULL != out, "%s: refused (%s)", in, got_ptrs);
      ck_assert_msg (json_equal (out, w), "%s: got %s", in, json_dumps (out, JSON_COMPACT));
      ck_assert_uint_eq (json_array_size (errors), 0);
      json_decref (w);
    }
  json_decref (out);
  json_decref (errors);
  json_decref (v);
}

START_TEST (test_email_list_valid)
{
  check_list ("[]", "[]", NULL);
  check_list ("[{\"value\":\"a@example.com\"}]",
              "[{\"value\":\"a@example.com\",\"primary\":false}]", NULL);
  check_list ("[{\"value\":\"a@example.com\",\"type\":\"work\",\"primary\":true},"
              "{\"value\":\"b@example.com\",\"primary\":false,\"type\":\"home\"}]",
              "[{\"value\":\"a@example.com\",\"type\":\"work\",\"primary\":true},"
              "{\"value\":\"b@example.com\",\"type\":\"home\",\"primary\":false}]",
              NULL);
}
END_TEST

START_TEST (test_email_list_invalid)
{
  check_list ("{}", NULL, "/emails");
  check_list ("[1]", NULL, "/emails/0");
  check_list ("[{}]", NULL, "/emails/0/value");
  check_list ("[{\"value\":7}]", NULL, "/emails/0/value");
  check_list ("[{\"value\":\"\"}]", NULL, "/emails/0/value");
  check_list ("[{\"value\":\"nope\"}]", NULL, "/emails/0/value");
  check_list ("[{\"value\":\"a@example.com\",\"display\":\"A\",\"a/b~\":1}]", NULL,
              "/emails/0/display /emails/0/a~1b~0");
  check_list ("[{\"value\":\"a@example.com\",\"type\":5,\"primary\":\"yes\"}]", NULL,
              "/emails/0/type /emails/0/primary");
  check_list ("[{\"value\":\"a@example.com\",\"type\":\"\"}]", NULL, "/emails/0/type");
  check_list ("[{\"value\":\"a@example.com\",\"type\":\"work \"}]", NULL, "/emails/0/type");
  check_list ("[{\"value\":\"a@example.com\",\"type\":\"w\\u0007\"}]", NULL, "/emails/0/type");
  check_list ("[{\"value\":\"a@example.com\",\"primary\":true},"
              "{\"value\":\"b@example.com\",\"primary\":true},"
              "{\"value\":\"c@example.com\",\"primary\":true}]",
              NULL, "/emails/1/primary /emails/2/primary");
  check_list ("[{\"value\":\"a@example.com\"},{\"value\":\"A@Example.COM\"}]", NULL,
              "/emails/1/value");
  check_list ("[{\"value\":\"x\"},{\"value\":\"ok@example.com\"},{\"value\":\"y\"}]", NULL,
              "/emails/0/value /emails/2/value");
  /* 11 addresses: the list itself is refused */
  {
    char in[1024] = "[";
    for (int i = 0; i <= BW_EMAILS_MAX; i++)
      {
        char one[64];
        snprintf (one, sizeof (one), "%s{\"value\":\"u%d@example.com\"}", (0 == i) ? "" : ",", i);
        strcat (in, one);
      }
    strcat (in, "]");
    check_list (in, NULL, "/emails");
  }
}
END_TEST

static Suite *
text_suite (void)
{
  Suite *s = suite_create ("text");
  TCase *tc = tcase_create ("text");

  tcase_add_loop_test (tc, test_text_table, 0, (int) ARRAY_LEN (text_table));
  tcase_add_test (tc, test_text_messages);
  suite_add_tcase (s, tc);

  tc = tcase_create ("email");
  tcase_add_loop_test (tc, test_email_table, 0, (int) ARRAY_LEN (email_table));
  tcase_add_test (tc, test_email_lengths);
  tcase_add_test (tc, test_email_list_valid);
  tcase_add_test (tc, test_email_list_invalid);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (text_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return 0 == failed ? EXIT_SUCCESS : EXIT_FAILURE;
}
