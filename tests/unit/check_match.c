/*
 * Unit tests of the policy engine's internal matchers (lib/host.h,
 * lib/ipaddr.h, lib/port.h, lib/path.h, lib/glob.h).  The black-box tables
 * of the whole engine live in check_policy.c; these pin down the pieces,
 * including what attackers try: look-alike suffixes, trailing dots, upper
 * case, userinfo, non-canonical IPv4, IPv4-mapped IPv6, host bits, "..".
 */
#include "config.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "lib/arena.h"
#include "lib/glob.h"
#include "lib/host.h"
#include "lib/ipaddr.h"
#include "lib/path.h"
#include "lib/policy.h"
#include "lib/port.h"

#define ARRAY_LEN(a) (sizeof (a) / sizeof ((a)[0]))

/* ---- hosts ---- */

/* pattern, host, match (-1: host invalid, -2: pattern invalid) */
static const struct
{
  const char *pattern;
  const char *host;
  int match;
} host_cases[] = {
  { "example.com", "example.com", 1 },
  { "example.com", "EXAMPLE.COM", 1 },
  { "example.com", "example.com.", 1 },
  { "example.com.", "example.com", 1 },
  { "Example.COM", "example.com", 1 },
  { "example.com", "www.example.com", 0 },
  { "example.com", "evil-example.com", 0 },
  { "example.com", "example.com.evil.net", 0 },
  { "example.com", "example.co", 0 },
  { "*.example.com", "www.example.com", 1 },
  { "*.example.com", "WWW.Example.Com.", 1 },
  { "*.example.com", "example.com", 0 },
  { "*.example.com", "a.b.example.com", 0 },
  { "*.example.com", "evil-example.com", 0 },
  { "*.example.com", "wwwexample.com", 0 },
  { "*.example.com", "www.example.com.evil.net", 0 },
  { "**.example.com", "www.example.com", 1 },
  { "**.example.com", "a.b.c.example.com", 1 },
  { "**.example.com", "example.com", 0 },
  { "**.example.com", "xexample.com", 0 },
  { "**.example.com", "a.xexample.com", 0 },
  { "*", "localhost", 1 },
  { "*", "example.com", 0 },
  { "**", "a.b.c", 1 },
  { "xn--bcher-kva.example", "XN--BCHER-KVA.example", 1 },
  { "example.com", "bücher.example", -1 },
  { "example.com", "user@example.com", -1 },
  { "example.com", "example..com", -1 },
  { "example.com", ".example.com", -1 },
  { "example.com", "example.com..", -1 },
  { "example.com", "-a.example.com", -1 },
  { "example.com", "a-.example.com", -1 },
  { "example.com", "a b.com", -1 },
  { "example.com", "example.com:443", -1 },
  { "example.com", "", -1 },
  { "example.com", "0x7f.1", -1 },
  { "example.com", "127.1", -1 },
  { "example.com", "2130706433", -1 },
  { "example.com", "0177.0.0.1", -1 },
  { "example.com", "127.000.0.1", -1 },
  { "example.com", "1.2.3.4.5", -1 },
  { "example.com", "[1.2.3.4]", -1 },
  { "user@example.com", "example.com", -2 },
  { "*.*.example.com", "a.b.example.com", -2 },
  { "a.*.example.com", "a.b.example.com", -2 },
  { "*example.com", "example.com", -2 },
  { "***.example.com", "a.example.com", -2 },
  { "10.0.0.1", "example.com", -2 },
  { "[::1]", "example.com", -2 },
  { "::1", "example.com", -2 },
  { "*.1", "example.com", -2 },
  { "example..com", "example.com", -2 },
  { "", "example.com", -2 },
  { "bücher.example", "example.com", -2 },
};

START_TEST (test_host_match)
{
  const char *pat = host_cases[_i].pattern, *host = host_cases[_i].host;
  char pbuf[512], hbuf[512];
  struct bw_host_pattern p;
  struct bw_host h;
  struct bw_ip ip;
  const char *err = bw_host_pattern_parse (pat, strlen (pat), true, pbuf, &p);
  if (-2 == host_cases[_i].match)
    {
      ck_assert_msg (NULL != err, "pattern %s accepted", pat);
      return;
    }
  ck_assert_msg (NULL == err, "pattern %s: %s", pat, err);
  enum bw_host_parse kind = bw_host_parse (host, strlen (host), hbuf, &h, &ip, &err);
  if (-1 == host_cases[_i].match)
    {
      ck_assert_msg (BW_HOST_PARSED_NAME != kind, "host %s taken as a name", host);
      return;
    }
  ck_assert_msg (BW_HOST_PARSED_NAME == kind, "host %s: %s", host, err);
  ck_assert_msg (bw_host_match (&p, &h) == (1 == host_cases[_i].match), "%s vs %s", pat, host);
}
END_TEST

START_TEST (test_host_ip_literals)
{
  char buf[64];
  struct bw_host h;
  struct bw_ip ip, want;
  const char *err;
  ck_assert_int_eq (bw_host_parse ("10.1.2.3", 8, buf, &h, &ip, &err), BW_HOST_PARSED_IP);
  ck_assert_ptr_null (bw_ip_parse ("::ffff:10.1.2.3", 15, &want));
  ck_assert_mem_eq (ip.b, want.b, 16);
  ck_assert_int_eq (bw_host_parse ("[::1]", 5, buf, &h, &ip, &err), BW_HOST_PARSED_IP);
  ck_assert_int_eq (bw_host_parse ("::1", 3, buf, &h, &ip, &err), BW_HOST_PARSED_IP);
  ck_assert_int_eq (bw_host_parse ("1.2.3.4.", 8, buf, &h, &ip, &err), BW_HOST_PARSED_IP);
  ck_assert_int_eq (bw_host_parse ("[fe80::1%25eth0]", 16, buf, &h, &ip, &err),
                    BW_HOST_PARSED_INVALID);
}
END_TEST

START_TEST (test_host_port_pattern)
{
  char buf[64];
  struct bw_host_pattern p;
  ck_assert_ptr_null (bw_host_pattern_parse ("a.com:8000-8999", 15, true, buf, &p));
  ck_assert (p.has_port && 8000 == p.port.lo && 8999 == p.port.hi);
  ck_assert_ptr_nonnull (bw_host_pattern_parse ("a.com:443", 9, false, buf, &p));
  ck_assert_ptr_nonnull (bw_host_pattern_parse ("a.com:0", 7, true, buf, &p));
  ck_assert_ptr_nonnull (bw_host_pattern_parse ("a.com:", 6, true, buf, &p));
  ck_assert_ptr_nonnull (bw_host_pattern_parse ("a.com:1:2", 9, true, buf, &p));
}
END_TEST

/* ---- ports ---- */

static const struct
{
  const char *text;
  int lo, hi; /* -1: invalid */
} port_cases[] = {
  { "1", 1, 1 },     { "65535", 65535, 65535 }, { "8000-8999", 8000, 8999 }, { "80-80", 80, 80 },
  { "0", -1, -1 },   { "65536", -1, -1 },       { "080", -1, -1 },           { "+80", -1, -1 },
  { "80-", -1, -1 }, { "-80", -1, -1 },         { "90-80", -1, -1 },         { "1-2-3", -1, -1 },
  { "", -1, -1 },    { " 80", -1, -1 },         { "123456", -1, -1 },
};

START_TEST (test_port_range)
{
  struct bw_port_range r;
  const char *t = port_cases[_i].text;
  const char *err = bw_port_range_parse (t, strlen (t), &r);
  if (port_cases[_i].lo < 0)
    ck_assert_msg (NULL != err, "%s accepted", t);
  else
    {
      ck_assert_msg (NULL == err, "%s: %s", t, err);
      ck_assert_int_eq (r.lo, port_cases[_i].lo);
      ck_assert_int_eq (r.hi, port_cases[_i].hi);
    }
}
END_TEST

/* ---- IP addresses and CIDRs ---- */

/* cidr, address, match (-1: address invalid, -2: cidr invalid) */
static const struct
{
  const char *cidr;
  const char *ip;
  int match;
} cidr_cases[] = {
  { "10.0.0.0/8", "10.255.1.2", 1 },
  { "10.0.0.0/8", "11.0.0.0", 0 },
  { "10.0.0.0/8", "::ffff:10.1.2.3", 1 },
  { "10.0.0.0/8", "::ffff:a01:203", 1 },
  { "10.0.0.0/8", "::10.1.2.3", 0 },
  { "169.254.0.0/16", "169.254.169.254", 1 },
  { "169.254.0.0/16", "169.255.0.1", 0 },
  { "0.0.0.0/0", "1.2.3.4", 1 },
  { "0.0.0.0/0", "::1", 0 },
  { "::/0", "::1", 1 },
  { "::/0", "1.2.3.4", 0 },
  { "::/0", "::ffff:1.2.3.4", 0 },
  { "::/64", "::ffff:1.2.3.4", 0 },
  { "::fffe:0:0/95", "1.2.3.4", 0 },
  { "::ffff:0:0/96", "8.8.8.8", 1 },
  { "::ffff:10.0.0.0/104", "10.9.9.9", 1 },
  { "fd00::/8", "fd12:3456::1", 1 },
  { "fd00::/8", "FD00::1", 1 },
  { "fd00::/8", "fe00::1", 0 },
  { "fe80::/10", "febf::1", 1 },
  { "fe80::/10", "fec0::1", 0 },
  { "2001:db8::/32", "2001:0db8:0000::1", 1 },
  { "1.2.3.4", "1.2.3.4", 1 },
  { "1.2.3.4", "1.2.3.5", 0 },
  { "1.2.3.4/32", "1.2.3.4", 1 },
  { "::1", "::1", 1 },
  { "10.0.0.0/7", "11.0.0.1", 1 },
  { "10.0.0.0/8", "010.0.0.1", -1 },
  { "10.0.0.0/8", "10.0.0.01", -1 },
  { "10.0.0.0/8", "10.1", -1 },
  { "10.0.0.0/8", "167772161", -1 },
  { "10.0.0.0/8", "0xa.0.0.1", -1 },
  { "10.0.0.0/8", "10.0.0.256", -1 },
  { "10.0.0.0/8", "10.0.0.1 ", -1 },
  { "10.0.0.0/8", "fe80::1%eth0", -1 },
  { "10.0.0.0/8", "::ffff:010.0.0.1", -1 },
  { "10.0.0.0/8", "1:2:3:4:5:6:7:8:9", -1 },
  { "10.0.0.1/8", "10.0.0.1", -2 },
  { "fd00::1/8", "fd00::1", -2 },
  { "10.0.0.0/33", "10.0.0.1", -2 },
  { "::/129", "::1", -2 },
  { "10.0.0.0/08", "10.0.0.1", -2 },
  { "10.0.0.0/", "10.0.0.1", -2 },
  { "10.0.0.0/-1", "10.0.0.1", -2 },
  { "010.0.0.0/8", "10.0.0.1", -2 },
  { "10/8", "10.0.0.1", -2 },
  { "1.2.3.4/0", "1.2.3.4", -2 },
};

START_TEST (test_cidr)
{
  struct bw_cidr c;
  struct bw_ip ip;
  char msg[BW_CIDR_MSG_SIZE];
  const char *ct = cidr_cases[_i].cidr, *it = cidr_cases[_i].ip;
  const char *err = bw_cidr_parse (ct, strlen (ct), &c, msg);
  if (-2 == cidr_cases[_i].match)
    {
      ck_assert_msg (NULL != err, "cidr %s accepted", ct);
      return;
    }
  ck_assert_msg (NULL == err, "cidr %s: %s", ct, err);
  err = bw_ip_parse (it, strlen (it), &ip);
  if (-1 == cidr_cases[_i].match)
    {
      ck_assert_msg (NULL != err, "address %s accepted", it);
      return;
    }
  ck_assert_msg (NULL == err, "address %s: %s", it, err);
  ck_assert_msg (bw_cidr_contains (&c, &ip) == (1 == cidr_cases[_i].match), "%s in %s", it, ct);
}
END_TEST

START_TEST (test_cidr_host_bits_message)
{
  struct bw_cidr c;
  char msg[BW_CIDR_MSG_SIZE];
  const char *err = bw_cidr_parse ("192.168.1.77/24", 15, &c, msg);
  ck_assert_str_eq (err, "host bits are set (the block is 192.168.1.0/24)");
}
END_TEST

/* ---- globs ---- */

static const struct
{
  const char *glob;
  const char *name;
  bool match;
} glob_cases[] = {
  { "get_*", "get_issue", true },
  { "get_*", "get_", true },
  { "get_*", "Get_issue", false },
  { "get_*", "xget_issue", false },
  { "*", "", true },
  { "*", "a/b", true },
  { "a*b*c", "abc", true },
  { "a*b*c", "aXbYc", true },
  { "a*b*c", "aXbYcZ", false },
  { "*-mcp-server", "io.x/gh-mcp-server", true },
  { "io.*", "io", false },
  { "abc", "abc", true },
  { "abc", "abcd", false },
  { "**", "x", true },
  { "*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
};

START_TEST (test_glob)
{
  const char *g = glob_cases[_i].glob, *n = glob_cases[_i].name;
  ck_assert_msg (bw_glob_match_bytes (g, strlen (g), n, strlen (n)) == glob_cases[_i].match,
                 "%s vs %s", g, n);
}
END_TEST

/* ---- paths ---- */

/* pattern, case-insensitive, request path, home (NULL: none), match (-1: path invalid, -2: pattern
 * invalid) */
static const struct
{
  const char *pattern;
  bool ci;
  const char *path;
  const char *home;
  int match;
} path_cases[] = {
  { "/home/a", false, "/home/a", NULL, 1 },
  { "/home/a", false, "/home/ab", NULL, 0 },
  { "/home/a/**", false, "/home/ab/x", NULL, 0 },
  { "/home/a/**", false, "/home/a", NULL, 1 },
  { "/home/a/**", false, "/home/a/x/y/z", NULL, 1 },
  { "/home/a/*", false, "/home/a", NULL, 0 },
  { "/home/a/*", false, "/home/a/x", NULL, 1 },
  { "/home/a/*", false, "/home/a/x/y", NULL, 0 },
  { "/**/.ssh/**", false, "/root/.ssh/id_rsa", NULL, 1 },
  { "/**/.ssh/**", false, "/.ssh", NULL, 1 },
  { "/**/*.pem", false, "/etc/ssl/key.pem", NULL, 1 },
  { "/**/*.pem", false, "/etc/ssl/key.pem.bak", NULL, 0 },
  { "/a/**/b/**/c", false, "/a/x/b/y/b/z/c", NULL, 1 },
  { "/a/**/b/**/c", false, "/a/b/c", NULL, 1 },
  { "/a/**/b/**/c", false, "/a/c", NULL, 0 },
  { "/", false, "/", NULL, 1 },
  { "/", false, "/a", NULL, 0 },
  { "/**", false, "/", NULL, 1 },
  { "/etc/passwd", false, "/etc/./passwd", NULL, 1 },
  { "/etc/passwd", false, "/etc//passwd", NULL, 1 },
  { "/etc/passwd", false, "/etc/passwd/", NULL, 1 },
  { "/etc/passwd", false, "/tmp/../etc/passwd", NULL, 1 },
  { "/etc/passwd", false, "/etc/x/../../etc/passwd", NULL, 1 },
  { "/etc/passwd", false, "/../etc/passwd", NULL, -1 },
  { "/etc/passwd", false, "etc/passwd", NULL, -1 },
  { "/etc/passwd", false, "", NULL, -1 },
  { "/etc/passwd", false, "~root/x", NULL, -1 },
  { "/etc/passwd", false, "/ETC/passwd", NULL, 0 },
  { "/etc/passwd", true, "/ETC/Passwd", NULL, 1 },
  { "/Volumes/Data/**", true, "/volumes/DATA/x", NULL, 1 },
  { "/Volumes/Data/**", false, "/volumes/DATA/x", NULL, 0 },
  { "~/.ssh/**", false, "~/.ssh/id_rsa", NULL, 1 },
  { "~/.ssh/**", false, "/home/al/.ssh/id_rsa", "/home/al", 1 },
  { "~/.ssh/**", false, "/home/al/src/../.ssh/k", "/home/al", 1 },
  { "~/.ssh/**", false, "/home/alx/.ssh/id_rsa", "/home/al", 0 },
  { "~/.ssh/**", false, "/home/al/.ssh/id_rsa", NULL, 0 },
  { "~/.ssh/**", false, "/HOME/AL/.SSH/k", "/home/al", 0 },
  { "~/.ssh/**", true, "/HOME/AL/.SSH/k", "/home/al", 1 },
  { "~/.ssh/**", false, "~/x/../.ssh/k", "/home/al", 1 },
  { "~/.ssh/**", false, "~/../al/.ssh/k", "/home/al", 1 },
  { "~/.ssh/**", false, "~/../bob/.ssh/k", "/home/al", 0 },
  { "~/.ssh/**", false, "~/../bob/.ssh/k", NULL, -1 },
  { "/home/al/.ssh/**", false, "~/.ssh/k", "/home/al", 1 },
  { "/home/al/.ssh/**", false, "~/.ssh/k", NULL, 0 },
  { "~", false, "~", NULL, 1 },
  { "~", false, "/home/al", "/home/al", 1 },
  { "~/**", false, "/home/al", "/home/al", 1 },
  { "~/*", false, "/home/al", "/home/al", 0 },
  { "~/src/id_*", false, "~/src/id_rsa", NULL, 1 },
  { "~/src/id_*", false, "~/src/xid_rsa", NULL, 0 },
  { "/a//b", false, "/a/b", NULL, -2 },
  { "/a/./b", false, "/a/b", NULL, -2 },
  { "/a/../b", false, "/b", NULL, -2 },
  { "/a/", false, "/a", NULL, -2 },
  { "~/", false, "~", NULL, -2 },
  { "a/b", false, "/a/b", NULL, -2 },
  { "~x/b", false, "/a/b", NULL, -2 },
  { "/a/b**", false, "/a/b", NULL, -2 },
  { "/a/***", false, "/a/b", NULL, -2 },
  { "", false, "/a/b", NULL, -2 },
};

START_TEST (test_path_match)
{
  struct bw_arena a = { 0 };
  struct bw_path_pattern pat;
  struct bw_path home, path;
  const char *pt = path_cases[_i].pattern, *rt = path_cases[_i].path, *ht = path_cases[_i].home;
  const char *err = bw_path_pattern_parse (&a, pt, strlen (pt), path_cases[_i].ci, &pat);
  if (-2 == path_cases[_i].match)
    {
      ck_assert_msg (NULL != err, "pattern %s accepted", pt);
      bw_arena_release (&a);
      return;
    }
  ck_assert_msg (NULL == err, "pattern %s: %s", pt, err);
  if (NULL != ht)
    ck_assert_ptr_null (bw_path_parse (&a, ht, strlen (ht), NULL, &home));
  err = bw_path_parse (&a, rt, strlen (rt), (NULL != ht) ? &home : NULL, &path);
  if (-1 == path_cases[_i].match)
    ck_assert_msg (NULL != err, "path %s accepted", rt);
  else
    {
      ck_assert_msg (NULL == err, "path %s: %s", rt, err);
      ck_assert_msg (bw_path_match (&pat, &path) == (1 == path_cases[_i].match),
                     "%s vs %s (home %s) -> %s", pt, rt, ht ? ht : "-", path.text);
    }
  bw_arena_release (&a);
}
END_TEST

START_TEST (test_path_resolution)
{
  static const struct
  {
    const char *in, *home, *out;
  } cases[] = {
    { "/a/b/../c/./d/", NULL, "/a/c/d" },
    { "/a/..", NULL, "/" },
    { "///", NULL, "/" },
    { "~/x", "/home/al", "/home/al/x" },
    { "~", "/home/al/", "/home/al" },
    { "~/../..", "/home/al", "/" },
    { "~/x/..", NULL, "~" },
    { "~/x", "/", "/x" },
  };
  for (size_t i = 0; i < ARRAY_LEN (cases); i++)
    {
      struct bw_arena a = { 0 };
      struct bw_path home, path;
      if (NULL != cases[i].home)
        ck_assert_ptr_null (bw_path_parse (&a, cases[i].home, strlen (cases[i].home), NULL, &home));
      ck_assert_ptr_null (bw_path_parse (&a, cases[i].in, strlen (cases[i].in),
                                         (NULL != cases[i].home) ? &home : NULL, &path));
      ck_assert_str_eq (path.text, cases[i].out);
      bw_arena_release (&a);
    }
}
END_TEST

START_TEST (test_path_limits)
{
  struct bw_arena a = { 0 };
  struct bw_path path;
  char deep[2 * (BW_PATH_DEPTH_MAX + 1) + 1];
  for (size_t i = 0; i < BW_PATH_DEPTH_MAX + 1; i++)
    memcpy (deep + 2 * i, "/x", 2);
  deep[sizeof (deep) - 1] = '\0';
  ck_assert_ptr_nonnull (bw_path_parse (&a, deep, strlen (deep), NULL, &path));
  ck_assert_ptr_null (bw_path_parse (&a, deep, strlen (deep) - 2, NULL, &path));
  char seg[BW_PATH_SEGMENT_MAX + 3];
  seg[0] = '/';
  memset (seg + 1, 'a', BW_PATH_SEGMENT_MAX + 1);
  seg[sizeof (seg) - 1] = '\0';
  ck_assert_ptr_nonnull (bw_path_parse (&a, seg, strlen (seg), NULL, &path));
  ck_assert_ptr_null (bw_path_parse (&a, seg, strlen (seg) - 1, NULL, &path));
  ck_assert_ptr_nonnull (bw_path_parse (&a, "/a\0b", 4, NULL, &path));
  bw_arena_release (&a);
}
END_TEST

/* ---- arena ---- */

START_TEST (test_arena)
{
  struct bw_arena a = { 0 };
  char *small = bw_arena_alloc (&a, 10);
  char *big = bw_arena_alloc (&a, 3 * BW_ARENA_BLOCK);
  char *after = bw_arena_alloc (&a, 10);
  ck_assert (NULL != small && NULL != big && NULL != after);
  /* the large block did not take the small one's place */
  ck_assert (after > small && after < small + BW_ARENA_BLOCK);
  memset (big, 1, 3 * BW_ARENA_BLOCK);
  ck_assert_str_eq (bw_arena_strndup (&a, "abcdef", 3), "abc");
  bw_arena_release (&a);
  ck_assert_ptr_null (a.head);
}
END_TEST

/* ---- which policies apply ---- */

START_TEST (test_policy_applies)
{
  const char *g1 = "11111111-1111-4111-8111-111111111111";
  const char *g2 = "22222222-2222-4222-8222-222222222222";
  const char *u1 = "33333333-3333-4333-8333-333333333333";
  json_t *errors = json_array ();
  json_t *doc
    = json_pack ("{s:s, s:s, s:s, s:{s:b, s:[s], s:[s]}}", "schema", BW_POLICY_SCHEMA, "name",
                 "scoped", "mode", "enforce", "scope", "org_wide", 0, "groups", g1, "users", u1);
  struct bw_policy *p = bw_policy_parse (doc, "", errors);
  ck_assert_ptr_nonnull (p);
  const char *in_g1[] = { g2, g1 }, *in_g2[] = { g2 };
  ck_assert (bw_policy_applies (p, NULL, in_g1, 2));
  ck_assert (!bw_policy_applies (p, NULL, in_g2, 1));
  ck_assert (bw_policy_applies (p, u1, in_g2, 1));
  ck_assert (!bw_policy_applies (p, g1, NULL, 0));
  ck_assert_uint_eq (bw_policy_scope (p)->ngroups, 1);
  ck_assert_str_eq (bw_policy_scope (p)->groups[0], g1);
  bw_policy_free (p);
  json_object_set_new (json_object_get (doc, "scope"), "org_wide", json_true ());
  ck_assert_ptr_null (bw_policy_parse (doc, "", errors)); /* org-wide names nobody */
  json_object_set_new (doc, "scope", json_pack ("{s:b}", "org_wide", 1));
  p = bw_policy_parse (doc, "", errors);
  ck_assert (bw_policy_applies (p, NULL, NULL, 0));
  bw_policy_free (p);
  json_decref (doc);
  json_decref (errors);
}
END_TEST

/* ---- error collection ---- */

START_TEST (test_errors_capped)
{
  json_t *errors = json_array ();
  json_t *hosts = json_array ();
  for (int i = 0; i < 150; i++)
    json_array_append_new (hosts, json_string ("user@example.com"));
  json_t *doc = json_pack ("{s:s, s:s, s:s, s:{s:b}, s:[{s:s, s:s, s:o}], s:i}", "schema",
                           BW_POLICY_SCHEMA, "name", "n", "mode", "enforce", "scope", "org_wide", 1,
                           "network", "id", "r", "decision", "deny", "hosts", hosts, "a/b~", 1);
  ck_assert_ptr_null (bw_policy_parse (doc, "/policy", errors));
  ck_assert_uint_eq (json_array_size (errors), 101);
  ck_assert_str_eq (json_string_value (json_object_get (json_array_get (errors, 0), "pointer")),
                    "/policy/a~1b~0");
  ck_assert_str_eq (json_string_value (json_object_get (json_array_get (errors, 1), "pointer")),
                    "/policy/network/0/hosts/0");
  ck_assert_str_eq (json_string_value (json_object_get (json_array_get (errors, 100), "pointer")),
                    "/policy");
  json_decref (doc);
  json_decref (errors);
}
END_TEST

static Suite *
match_suite (void)
{
  Suite *s = suite_create ("match");
  TCase *tc = tcase_create ("matchers");
  tcase_add_loop_test (tc, test_host_match, 0, ARRAY_LEN (host_cases));
  tcase_add_test (tc, test_host_ip_literals);
  tcase_add_test (tc, test_host_port_pattern);
  tcase_add_loop_test (tc, test_port_range, 0, ARRAY_LEN (port_cases));
  tcase_add_loop_test (tc, test_cidr, 0, ARRAY_LEN (cidr_cases));
  tcase_add_test (tc, test_cidr_host_bits_message);
  tcase_add_loop_test (tc, test_glob, 0, ARRAY_LEN (glob_cases));
  tcase_add_loop_test (tc, test_path_match, 0, ARRAY_LEN (path_cases));
  tcase_add_test (tc, test_path_resolution);
  tcase_add_test (tc, test_path_limits);
  tcase_add_test (tc, test_arena);
  tcase_add_test (tc, test_policy_applies);
  tcase_add_test (tc, test_errors_capped);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (match_suite ());
  srunner_run_all (sr, CK_NORMAL);
  int failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return (0 == failed) ? EXIT_SUCCESS : EXIT_FAILURE;
}
