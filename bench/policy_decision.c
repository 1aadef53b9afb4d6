/*
 * Benchmark of policy decisions (PERF.md target: median < 5 µs for a
 * 250-rule policy on one core).  Built and run by bench/policy-decision.sh.
 *
 * It generates a realistic 250-rule policy (100 network rules with exact,
 * "*." and "**." hosts, ports and CIDRs; 70 filesystem rules with "~/",
 * "**", globs and case-insensitive volumes; 30 credential rules; 50 MCP
 * rules with server and tool globs), a mix of decision requests over all
 * four surfaces (hits and misses, IPv4/IPv6, paths with ".."), and times
 * each bw_evaluate call alone, printing median and p99 in ns.  A second
 * scenario puts all 250 rules in the network surface and asks for a host
 * that matches none: every rule is looked at (the worst case).
 *
 * MCP requests and credentials toward MCP servers pass the catalog step
 * first (DESIGN §4 step 1): the run carries an approved slice of
 * BENCH_CATALOG_ENTRIES entries that holds the servers the requests name
 * (but for one that is not approved), so its binary search is timed too.
 *
 * References measured in the same run, so the ratio survives machine noise
 * (PERF.md): (1) a plain linear scan calling strcmp of the request's host
 * against the 250 host strings of the network-only policy — the least work
 * any evaluator that looks at every rule must do; (2) jansson's json_loads
 * of the request's JSON text, which the server does before deciding
 * anyway.  Each is timed the same way (one clock pair per operation, the
 * clock's own cost measured and subtracted).
 *
 * Usage: policy_decision [DECISIONS]   (default 1000000)
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include "lib/policy.h"

/** Requests in the mix. */
#define NREQ_MAX 64
/** Entries in the approved catalog slice of the run. */
#define BENCH_CATALOG_ENTRIES 200
/** The image digest and tool description hashes of the bench's catalog. */
#define BENCH_DIGEST "sha256:5b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f80"
#define BENCH_SHA_GET "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define BENCH_SHA_CREATE "1f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

static json_t *
policy_doc (bool network_only)
{
  json_t *net = json_array (), *fs = json_array (), *cred = json_array (), *mcp = json_array ();
  int n_net = network_only ? 250 : 100;
  char a[128], b[128], id[32];
  for (int i = 0; i < n_net; i++)
    {
      snprintf (id, sizeof (id), "net-%d", i);
      const char *d = (0 == i % 7) ? "deny" : (0 == i % 11) ? "require_approval" : "allow";
      json_t *hosts = json_array ();
      switch (i % 4)
        {
        case 0:
          snprintf (a, sizeof (a), "api%d.service%d.example.com", i, i);
          json_array_append_new (hosts, json_string (a));
          break;
        case 1:
          snprintf (a, sizeof (a), "*.cdn%d.example.net", i);
          snprintf (b, sizeof (b), "registry%d.example.org:443", i);
          json_array_append_new (hosts, json_string (a));
          json_array_append_new (hosts, json_string (b));
          break;
        case 2:
          snprintf (a, sizeof (a), "**.corp%d.example.io", i);
          json_array_append_new (hosts, json_string (a));
          break;
        default:
          snprintf (a, sizeof (a), "host%d.example.com:8000-8999", i);
          json_array_append_new (hosts, json_string (a));
          break;
        }
      json_t *r = json_pack ("{s:s, s:s, s:o}", "id", id, "decision", d, "hosts", hosts);
      if (0 == i % 5 && 1 != i % 4 && 3 != i % 4)
        json_object_set_new (r, "ports", json_pack ("[i, s]", 443, "8000-8999"));
      if (0 == i % 10)
        {
          snprintf (a, sizeof (a), "10.%d.0.0/16", i);
          snprintf (b, sizeof (b), "fd00:%x::/32", i);
          json_object_set_new (r, "cidrs", json_pack ("[s, s]", a, b));
        }
      json_array_append_new (net, r);
    }
  for (int i = 0; !network_only && i < 70; i++)
    {
      snprintf (id, sizeof (id), "fs-%d", i);
      const char *d = (0 == i % 6) ? "deny" : "allow";
      if (0 == i % 3)
        snprintf (a, sizeof (a), "~/src/project%d/**", i);
      else if (1 == i % 3)
        snprintf (a, sizeof (a), "/var/data/team%d/**/*.csv", i);
      else
        snprintf (a, sizeof (a), "/Volumes/Share%d/*/docs/**", i);
      json_array_append_new (fs, json_pack ("{s:s, s:s, s:[s, s], s:[s], s:b}", "id", id,
                                            "decision", d, "access", "read", "write", "paths", a,
                                            "case_insensitive", 2 == i % 3));
    }
  for (int i = 0; !network_only && i < 30; i++)
    {
      snprintf (id, sizeof (id), "cred-%d", i);
      snprintf (a, sizeof (a), "token-%d", i % 10);
      snprintf (b, sizeof (b), "**.api%d.example.com", i);
      json_array_append_new (cred, json_pack ("{s:s, s:s, s:s, s:[s], s:[s]}", "id", id, "decision",
                                              (0 == i % 4) ? "deny" : "allow", "credential", a,
                                              "to_hosts", b, "to_mcp_servers", "io.example/*"));
    }
  for (int i = 0; !network_only && i < 50; i++)
    {
      snprintf (id, sizeof (id), "mcp-%d", i);
      snprintf (a, sizeof (a), "io.github.org%d/*-mcp-server", i);
      json_t *r = json_pack ("{s:s, s:s, s:[s], s:s, s:[s, s]}", "id", id, "decision",
                             (0 == i % 5) ? "require_approval" : "allow", "actions", "invoke_tool",
                             "server", a, "tools", "get_*", "list_*");
      if (0 == i % 5)
        json_object_set_new (r, "when", json_pack ("{s:b}", "read_only", 0));
      json_array_append_new (mcp, r);
    }
  return json_pack ("{s:s, s:s, s:s, s:{s:b}, s:o, s:o, s:o, s:o}", "schema", BW_POLICY_SCHEMA,
                    "name", "bench", "mode", "enforce", "scope", "org_wide", 1, "network", net,
                    "filesystem", fs, "credentials", cred, "mcp", mcp);
}

static const char *const mixed_requests[] = {
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"host\":\"api40.service40."
  "example.com\",\"port\":443}}",
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"host\":\"a.b.corp98.example."
  "io\",\"port\":443}}",
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"host\":\"x.cdn97.example.net\","
  "\"port\":80}}",
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"host\":\"unknown.example.com\","
  "\"port\":443}}",
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"host\":\"HOST99.example.com.\","
  "\"port\":8080}}",
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"ip\":\"10.90.1.2\",\"port\":443}"
  "}",
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"ip\":\"fd00:50::1\",\"port\":"
  "8443}}",
  "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"ip\":\"::ffff:10.20.0.1\","
  "\"port\":22}}",
  "{\"surface\":\"filesystem\",\"action\":\"read\",\"resource\":{\"path\":\"~/src/project66/lib/"
  "a.c\"},\"context\":{\"home\":\"/home/dev\"}}",
  "{\"surface\":\"filesystem\",\"action\":\"write\",\"resource\":{\"path\":\"/home/dev/src/"
  "project3/x/../y.c\"},\"context\":{\"home\":\"/home/dev\"}}",
  "{\"surface\":\"filesystem\",\"action\":\"read\",\"resource\":{\"path\":\"/var/data/team67/a/b/c/"
  "report.csv\"},"
  "\"context\":{\"home\":\"/home/dev\"}}",
  "{\"surface\":\"filesystem\",\"action\":\"write\",\"resource\":{\"path\":\"/volumes/share68/q/"
  "DOCS/plan.txt\"},"
  "\"context\":{\"home\":\"/home/dev\"}}",
  "{\"surface\":\"filesystem\",\"action\":\"read\",\"resource\":{\"path\":\"/etc/shadow\"},"
  "\"context\":{\"home\":\"/home/dev\"}}",
  "{\"surface\":\"credentials\",\"action\":\"use\",\"resource\":{\"credential\":\"token-7\","
  "\"host\":\"x.api27.example.com\"}}",
  "{\"surface\":\"credentials\",\"action\":\"use\",\"resource\":{\"credential\":\"token-3\",\"mcp_"
  "server\":\"io.example/tool\"}}",
  "{\"surface\":\"credentials\",\"action\":\"use\",\"resource\":{\"credential\":\"token-99\","
  "\"host\":\"evil.example\"}}",
  "{\"surface\":\"mcp\",\"action\":\"invoke_tool\",\"resource\":{\"server\":\"io.github.org45/"
  "gh-mcp-server\",\"tool\":\"get_issue\",\"identity\":{\"image_digest\":\"" BENCH_DIGEST "\"},"
  "\"description_sha256\":\"" BENCH_SHA_GET "\"}}",
  "{\"surface\":\"mcp\",\"action\":\"invoke_tool\",\"resource\":{\"server\":\"io.github.org45/"
  "gh-mcp-server\",\"tool\":\"create_issue\",\"identity\":{\"image_digest\":\"" BENCH_DIGEST "\"},"
  "\"description_sha256\":\"" BENCH_SHA_CREATE "\"}}",
  "{\"surface\":\"mcp\",\"action\":\"invoke_tool\",\"resource\":{\"server\":\"io.unknown/"
  "x\",\"tool\":\"get_x\",\"identity\":{\"image_digest\":\"" BENCH_DIGEST "\"},"
  "\"description_sha256\":\"" BENCH_SHA_GET "\"}}",
  "{\"surface\":\"mcp\",\"action\":\"list_tools\",\"resource\":{\"server\":\"io.github.org1/"
  "a-mcp-server\",\"identity\":{\"image_digest\":\"" BENCH_DIGEST "\"}}}",
};

/* A host that no rule of the network-only policy matches: every rule is looked at. */
static const char *const miss_request
  = "{\"surface\":\"network\",\"action\":\"connect\",\"resource\":{\"host\":\"build.internal."
    "example.dev\",\"port\":443}}";

static inline uint64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return (x > y) - (x < y);
}

struct stats
{
  double median, p99;
};

static struct stats
summarize (uint64_t *t, size_t n, double overhead)
{
  qsort (t, n, sizeof (*t), cmp_u64);
  struct stats s = { (double) t[n / 2] - overhead, (double) t[n * 99 / 100] - overhead };
  if (s.median < 0)
    s.median = 0;
  if (s.p99 < 0)
    s.p99 = 0;
  return s;
}

static volatile int sink;

/* The cost of the clock pair itself. */
static double
clock_overhead (uint64_t *t, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      uint64_t a = now_ns ();
      t[i] = now_ns () - a;
    }
  qsort (t, n, sizeof (*t), cmp_u64);
  return (double) t[n / 2];
}

static struct bw_policy *
parse_policy (bool network_only)
{
  json_t *doc = policy_doc (network_only);
  json_t *errors = json_array ();
  struct bw_policy *p = bw_policy_parse (doc, "", errors);
  if (NULL == p)
    {
      char *s = json_dumps (errors, JSON_INDENT (1));
      fprintf (stderr, "bench policy invalid: %s\n", s);
      exit (1);
    }
  if (250 != bw_policy_rule_count (p))
    {
      fprintf (stderr, "bench policy has %zu rules\n", bw_policy_rule_count (p));
      exit (1);
    }
  json_decref (errors);
  json_decref (doc);
  return p;
}

static struct bw_decision_request *
parse_request (const char *text)
{
  json_t *errors = json_array ();
  json_t *j = json_loads (text, 0, NULL);
  struct bw_decision_request *r = bw_decision_request_parse (j, "", errors);
  if (NULL == r)
    {
      char *s = json_dumps (errors, 0);
      fprintf (stderr, "bench request invalid: %s: %s\n", text, s);
      exit (1);
    }
  json_decref (errors);
  json_decref (j);
  return r;
}

static int
cmp_entry_name (const void *a, const void *b)
{
  return strcmp (json_string_value (json_object_get (*(json_t *const *) a, "name")),
                 json_string_value (json_object_get (*(json_t *const *) b, "name")));
}

/* One approved image entry named @a name with tools get_issue (read-only) and create_issue. */
static json_t *
catalog_entry (const char *name, int i)
{
  char id[40];
  snprintf (id, sizeof (id), "7d1c0a52-0000-4000-8000-%012d", i);
  return json_pack ("{s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:b, s:s}], s:[{s:s, s:s, "
                    "s:{}}, {s:s, s:s, s:{s:b}}]}",
                    "id", id, "name", name, "version", "1.0.0", "kind", "image", "identity",
                    "image", "ghcr.io/bench/server", "image_digest", BENCH_DIGEST, "inputs",
                    "name", "TOKEN", "secret", 1, "credential", "token-3", "tools", "name",
                    "create_issue", "description_sha256", BENCH_SHA_CREATE, "annotations",
                    "name", "get_issue", "description_sha256", BENCH_SHA_GET, "annotations",
                    "readOnlyHint", 1);
}

/* The approved slice of the run: the servers the requests name, and filler. */
static struct bw_catalog *
parse_catalog (void)
{
  static const char *const named[]
    = { "io.example/tool", "io.github.org1/a-mcp-server", "io.github.org45/gh-mcp-server" };
  json_t *entries[BENCH_CATALOG_ENTRIES];
  char name[64], why[160];
  size_t n = 0;
  for (; n < sizeof (named) / sizeof (named[0]); n++)
    entries[n] = catalog_entry (named[n], (int) n);
  for (; n < BENCH_CATALOG_ENTRIES; n++)
    {
      snprintf (name, sizeof (name), "io.filler%zu.example/server-%zu", n, n);
      entries[n] = catalog_entry (name, (int) n);
    }
  qsort (entries, n, sizeof (entries[0]), cmp_entry_name);
  json_t *slice = json_array ();
  for (size_t i = 0; i < n; i++)
    json_array_append_new (slice, entries[i]);
  struct bw_catalog *c = bw_catalog_parse (slice, why, sizeof (why));
  if (NULL == c)
    {
      fprintf (stderr, "bench catalog invalid: %s\n", why);
      exit (1);
    }
  json_decref (slice);
  return c;
}

static struct stats
time_decisions (const struct bw_policy *p, const struct bw_catalog *cat,
                struct bw_decision_request **reqs, size_t nreq, uint64_t *t, size_t n,
                double overhead, size_t *allowed)
{
  struct bw_policy_ref ref = { .policy = p, .policy_id = "bench", .revision = 1 };
  struct bw_decision_result res;
  /* a fixed time: no entry of the bench's catalog expires */
  const int64_t now = 1767225600;
  *allowed = 0;
  for (size_t i = 0; i < n; i++)
    {
      uint64_t a = now_ns ();
      bw_evaluate (&ref, 1, cat, now, reqs[i % nreq], &res);
      t[i] = now_ns () - a;
      *allowed += (BW_DECISION_ALLOW == res.decision);
    }
  return summarize (t, n, overhead);
}

int
main (int argc, char **argv)
{
  size_t n = (argc > 1) ? strtoul (argv[1], NULL, 10) : 1000000;
  if (n < 1000)
    n = 1000;
  uint64_t *t = malloc (n * sizeof (*t));
  if (NULL == t)
    return 1;
  double overhead = clock_overhead (t, n);

  struct bw_policy *mixed = parse_policy (false);
  struct bw_policy *netonly = parse_policy (true);
  size_t nreq = sizeof (mixed_requests) / sizeof (mixed_requests[0]);
  struct bw_decision_request *reqs[NREQ_MAX];
  for (size_t i = 0; i < nreq; i++)
    reqs[i] = parse_request (mixed_requests[i]);
  struct bw_decision_request *miss = parse_request (miss_request);
  struct bw_catalog *cat = parse_catalog ();

  /* warm up */
  size_t allowed, allowed_miss;
  time_decisions (mixed, cat, reqs, nreq, t, n / 10, overhead, &allowed);
  struct stats mix = time_decisions (mixed, cat, reqs, nreq, t, n, overhead, &allowed);
  struct stats worst = time_decisions (netonly, cat, &miss, 1, t, n, overhead, &allowed_miss);

  /* Reference 1: strcmp over the 250 host strings of the network-only policy. */
  json_t *doc = policy_doc (true);
  const char *hosts[250];
  for (size_t i = 0; i < 250; i++)
    hosts[i] = json_string_value (json_array_get (
      json_object_get (json_array_get (json_object_get (doc, "network"), i), "hosts"), 0));
  const char *probe = "build.internal.example.dev";
  for (size_t i = 0; i < n; i++)
    {
      uint64_t a = now_ns ();
      int found = 0;
      for (size_t k = 0; k < 250; k++)
        found += (0 == strcmp (probe, hosts[k]));
      sink += found;
      t[i] = now_ns () - a;
    }
  struct stats scan = summarize (t, n, overhead);

  /* Reference 2: json_loads of the request text. */
  for (size_t i = 0; i < n; i++)
    {
      const char *text = mixed_requests[i % nreq];
      uint64_t a = now_ns ();
      json_t *j = json_loads (text, 0, NULL);
      t[i] = now_ns () - a;
      json_decref (j);
    }
  struct stats loads = summarize (t, n, overhead);

  printf ("policy decisions, 250-rule policy, %zu decisions each, one core\n", n);
  printf ("  clock pair overhead (subtracted):           %6.0f ns\n", overhead);
  printf ("  mixed surfaces, %2zu requests (%zu%% allowed): median %6.0f ns  p99 %6.0f ns\n", nreq,
          100 * allowed / n, mix.median, mix.p99);
  printf ("  250 network rules, no match (full scan):    median %6.0f ns  p99 %6.0f ns\n",
          worst.median, worst.p99);
  printf ("  reference: strcmp scan of 250 host strings: median %6.0f ns  p99 %6.0f ns\n",
          scan.median, scan.p99);
  printf ("  reference: json_loads of the request:       median %6.0f ns  p99 %6.0f ns\n",
          loads.median, loads.p99);
  if (scan.median > 0 && loads.median > 0)
    printf ("  ratios: full scan / strcmp scan = %.2f; mixed / json_loads = %.2f\n",
            worst.median / scan.median, mix.median / loads.median);
  printf ("  target: median < 5000 ns: %s\n",
          (mix.median < 5000 && worst.median < 5000) ? "met" : "NOT MET");

  json_decref (doc);
  for (size_t i = 0; i < nreq; i++)
    bw_decision_request_free (reqs[i]);
  bw_decision_request_free (miss);
  bw_catalog_free (cat);
  bw_policy_free (mixed);
  bw_policy_free (netonly);
  free (t);
  return 0;
}
