/*
 * The MCP catalog in lib/ (DESIGN §5; formats in lib/catalog.h): entry
 * documents, import from the registry's server.json, tools/list results,
 * the approved slice a bundle carries, and the catalog step of the
 * decision (DESIGN §4 step 1) that lib/evaluate.c runs before any rule.
 *
 * Syntax beyond what lib/catalog.h spells out:
 *   - an input name is 1..BW_CATALOG_INPUT_NAME_MAX bytes of printable
 *     ASCII without spaces (environment variables, header and argument
 *     names all are); so is a package identifier other than mcpb's;
 *   - an image reference is lowercase [a-z0-9._/-] path components,
 *     optionally after a registry host with ":port";
 *   - a URL (remote url, mcpb identifier) is https:// + a host name or a
 *     bracketed IPv6 address + optional ":port", printable ASCII without
 *     spaces, no userinfo, no fragment, no "{…}" template; its scheme and
 *     host are lowercased, nothing else is rewritten;
 *   - "title" is one line of text (lib/text.h: no control characters, not
 *     blank); descriptions are well-formed UTF-8 and may span lines; a
 *     tool's description is kept (for the reviewer) beside its hash, up to
 *     BW_CATALOG_TOOL_DESCRIPTION_MAX bytes;
 *   - a tool given both "description" and "description_sha256" (the
 *     normalized form, normalized again) must have the hash of the text;
 *     an empty description in a tools/list result is no description (its
 *     hash, that of "", is kept; there is no text to show).
 *
 * server.json: the top-level keys are checked (unknown ones are errors);
 * only the package or remote that is imported is looked at, and in it the
 * keys of the 2025-12-11 Package and Remote objects are known; input
 * objects (environment variables, headers, arguments) carry many optional
 * display keys, of which only name, type, isSecret, isRequired and
 * description are read (others are left alone).  A select that is not of
 * the form "/packages/<i>" or "/remotes/<i>" is reported at the document
 * itself (the prefix), one that names nothing at the pointer it names.
 *
 * tools/list: the result object and the JSON-RPC envelope are checked
 * strictly; a "nextCursor" other than null marks a partial page and is
 * refused (the caller fetches every page and sends the tools together); a tool's keys other than name, description and annotations are
 * left alone (MCP's Tool grows between protocol revisions), and so are the
 * annotation keys MCP may add beyond the five of lib/catalog.h.
 *
 * The slice must be sorted by name with at most one entry per name, and
 * every entry's tools sorted by name and unique (the server builds it that
 * way with COLLATE "C", i.e. bytewise, as strcmp compares here); lookups
 * are then binary searches and the catalog step never allocates.
 */
#include "config.h"
#include "lib/catalog.h"
#include "lib/policy_model.h"
#include "lib/arena.h"
#include "lib/canonical_json.h"
#include "lib/crypto.h"
#include "lib/ident.h"
#include "lib/json_errors.h"
#include "lib/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** "sha256:" + 64 hex digits. */
#define DIGEST_PREFIX "sha256:"
#define DIGEST_LEN (sizeof (DIGEST_PREFIX) - 1 + BW_SHA256_HEX_LEN)
/** Longest enum value read from a document (kind, registry type, …), bytes. */
#define ENUM_MAX 32
/** Room for one JSON pointer built here. */
#define PTR_SIZE 128
/** Room for an error message built here. */
#define MSG_SIZE 320

/* ---- shared vocabulary ---- */

enum kind
{
  KIND_NONE = -1,
  KIND_IMAGE = 0,
  KIND_REMOTE,
  KIND_PACKAGE,
};

static const char *const kind_names[] = { "image", "remote", "package", NULL };
static const char *const transport_names[] = { "streamable-http", "sse", NULL };
static const char *const registry_names[] = { "npm", "pypi", "nuget", "mcpb", "cargo", NULL };
static const char *const input_kind_names[] = { "env", "header", "argument", NULL };
static const char *const state_names[] = { "approved", "blocked", NULL };

bool
bw_catalog_registry_type_known (const char *name)
{
  for (size_t i = 0; NULL != name && NULL != registry_names[i]; i++)
    if (0 == strcmp (name, registry_names[i]))
      return true;
  return false;
}

static const char *const check_names[] = {
  [BW_CATALOG_UNCHECKED] = "unchecked",
  [BW_CATALOG_APPROVED] = "approved",
  [BW_CATALOG_NOT_APPROVED] = "not_approved",
  [BW_CATALOG_EXPIRED] = "expired",
  [BW_CATALOG_IDENTITY_MISSING] = "identity_missing",
  [BW_CATALOG_IDENTITY_MISMATCH] = "identity_mismatch",
  [BW_CATALOG_TOOL_NOT_APPROVED] = "tool_not_approved",
  [BW_CATALOG_DESCRIPTION_MISSING] = "description_missing",
  [BW_CATALOG_DESCRIPTION_CHANGED] = "description_changed",
  [BW_CATALOG_CREDENTIAL_UNBOUND] = "credential_unbound",
};

const char *
bw_catalog_check_name (enum bw_catalog_check c)
{
  return ((unsigned) c < sizeof (check_names) / sizeof (check_names[0])) ? check_names[c]
                                                                         : "unchecked";
}

/* Index of @a s in NULL-terminated @a names, or -1. */
static int
lookup_name (const char *const *names, const char *s)
{
  for (int i = 0; NULL != s && NULL != names[i]; i++)
    if (0 == strcmp (names[i], s))
      return i;
  return -1;
}

static bool
ascii_alnum (char ch)
{
  return ('a' <= ch && ch <= 'z') || ('A' <= ch && ch <= 'Z') || ('0' <= ch && ch <= '9');
}

static char
ascii_lower (char ch)
{
  return ('A' <= ch && ch <= 'Z') ? (char) (ch - 'A' + 'a') : ch;
}

static bool
prefix_nocase (const char *s, const char *prefix)
{
  for (; '\0' != *prefix; s++, prefix++)
    if (ascii_lower (*s) != *prefix)
      return false;
  return true;
}

/* ---- syntax checks: NULL or a static message ---- */

static const char *
name_check (const char *s)
{
  static const char msg[]
    = "must be \"<namespace>/<name>\": [a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+ (reverse-DNS namespace)";
  size_t len = strlen (s);
  const char *slash = strchr (s, '/');
  if (len < 3 || len > BW_CATALOG_NAME_MAX)
    return "must be 3..200 bytes";
  if (NULL == slash || slash == s || '\0' == slash[1])
    return msg;
  for (const char *p = s; p < slash; p++)
    if (!ascii_alnum (*p) && '.' != *p && '-' != *p)
      return msg;
  for (const char *p = slash + 1; '\0' != *p; p++)
    if (!ascii_alnum (*p) && '.' != *p && '_' != *p && '-' != *p)
      return msg;
  return NULL;
}

static const char *
version_check (const char *s)
{
  static const char range[] = "must be one version, not a range (\"^\", \"~\", \">\", \"<\", "
                              "\"*\", \"x\" or \"latest\")";
  for (const char *p = s; '\0' != *p; p++)
    if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
      return "must be printable ASCII without spaces";
  if (NULL != strpbrk (s, "^~<>*|"))
    return range;
  if (6 == strlen (s) && prefix_nocase (s, "latest"))
    return range;
  /* "1.x", "1.2.X", "x": a part that is a bare x is a wildcard */
  for (const char *p = s; '\0' != *p;)
    {
      size_t n = strcspn (p, ".");
      if (1 == n && ('x' == *p || 'X' == *p))
        return range;
      p += n;
      if ('.' == *p)
        p++;
    }
  return NULL;
}

/* Printable ASCII without spaces. */
static const char *
token_check (const char *s)
{
  for (; '\0' != *s; s++)
    if ((unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f)
      return "must be printable ASCII without spaces";
  return NULL;
}

static const char *
digest_check (const char *s)
{
  if (0 != strncmp (s, DIGEST_PREFIX, strlen (DIGEST_PREFIX))
      || !bw_sha256_hex_valid (s + strlen (DIGEST_PREFIX)))
    return "must be \"sha256:\" and 64 lowercase hex digits";
  return NULL;
}

static const char *
sha_check (const char *s)
{
  return bw_sha256_hex_valid (s) ? NULL : "must be 64 lowercase hex digits";
}

/* An image reference without tag or digest: [host[:port]/]path, lowercase. */
static const char *
image_check (const char *s)
{
  static const char msg[] = "must be an image reference without tag or digest "
                            "(lowercase [a-z0-9._-] components separated by '/')";
  const char *slash = strchr (s, '/');
  if (NULL != strchr (s, '@'))
    return "must not carry a digest (give it as \"image_digest\")";
  if ('\0' == s[0] || '/' == s[0] || '/' == s[strlen (s) - 1] || NULL != strstr (s, "//"))
    return msg;
  for (const char *p = s; '\0' != *p; p++)
    {
      if (':' == *p)
        {
          if (NULL == slash || p > slash)
            return "must not carry a tag: the digest is the identity";
          continue;
        }
      if (!('a' <= *p && *p <= 'z') && !('0' <= *p && *p <= '9') && '.' != *p && '_' != *p
          && '-' != *p && '/' != *p)
        return msg;
    }
  return NULL;
}

const char *
bw_url_normalize (char *s, bool https_only)
{
  size_t skip;
  if (prefix_nocase (s, "https://"))
    skip = 8;
  else if (!https_only && prefix_nocase (s, "http://"))
    skip = 7;
  else
    return https_only ? "must be an https:// URL" : "must be an http:// or https:// URL";
  for (const char *p = s; '\0' != *p; p++)
    if ((unsigned char) *p <= ' ' || (unsigned char) *p >= 0x7f)
      return "must be printable ASCII without spaces (percent-encode the rest)";
  if (NULL != strchr (s, '#'))
    return "must not have a fragment";
  if (NULL != strpbrk (s, "{}"))
    return "must be one URL, not a template";
  char *host = s + skip;
  size_t alen = strcspn (host, "/?");
  if (NULL != memchr (host, '@', alen))
    return "must not have a userinfo part";
  size_t hlen;
  if ('[' == host[0])
    {
      char *close = memchr (host, ']', alen);
      if (NULL == close || close == host + 1)
        return "must have a valid host";
      for (char *p = host + 1; p < close; p++)
        if (!ascii_alnum (*p) && ':' != *p && '.' != *p)
          return "must have a valid host";
      hlen = (size_t) (close - host) + 1;
    }
  else
    {
      hlen = strcspn (host, ":/?");
      for (size_t i = 0; i < hlen; i++)
        if (!ascii_alnum (host[i]) && '.' != host[i] && '-' != host[i])
          return "must have a valid host";
    }
  if (0 == hlen)
    return "must have a host";
  if (hlen < alen)
    {
      /* ":port", 1..65535 */
      unsigned long port = 0;
      if (':' != host[hlen] || hlen + 1 == alen || alen - hlen - 1 > 5)
        return "must have a valid port";
      for (size_t i = hlen + 1; i < alen; i++)
        {
          if (host[i] < '0' || host[i] > '9')
            return "must have a valid port";
          port = port * 10 + (unsigned long) (host[i] - '0');
        }
      if (0 == port || port > 65535)
        return "must have a valid port";
    }
  for (size_t i = 0; i < skip; i++)
    s[i] = ascii_lower (s[i]);
  for (size_t i = 0; i < hlen; i++)
    host[i] = ascii_lower (host[i]);
  return NULL;
}

/* ---- members, with errors ---- */

/* What a validation pass carries. */
struct nctx
{
  struct bw_errors e;
  bool oom;
};

static void
put (struct nctx *c, json_t *o, const char *key, json_t *v)
{
  if (NULL == v || 0 != json_object_set_new (o, key, v))
    c->oom = true;
}

static void
put_str (struct nctx *c, json_t *o, const char *key, const char *s)
{
  put (c, o, key, json_string (s));
}

/* A string member checked by @a check (may be NULL); reported at base/key. */
static const char *
str_member (struct nctx *c, const json_t *o, const char *key, bool required, size_t max,
            const char *(*check) (const char *), const char *base)
{
  const char *s = bw_errors_string (&c->e, o, key, required, max, base);
  const char *err = (NULL != s && NULL != check) ? check (s) : NULL;
  if (NULL == err)
    return s;
  bw_errors_add (&c->e, err, "%s/%s", base, key);
  return NULL;
}

/* Text: one line (@a line) or prose (well-formed UTF-8 only). */
static const char *
text_member (struct nctx *c, const json_t *o, const char *key, bool required, size_t max, bool line,
             const char *base)
{
  const char *s = bw_errors_string (&c->e, o, key, required, max, base);
  if (NULL == s)
    return NULL;
  enum bw_text_fault f = bw_text_check (s, strlen (s));
  bool bad = line ? (BW_TEXT_OK != f && BW_TEXT_PADDED != f) : (BW_TEXT_INVALID_UTF8 == f);
  if (!bad)
    return s;
  bw_errors_add (&c->e, bw_text_fault_message (f), "%s/%s", base, key);
  return NULL;
}

/* An enum member: index into @a names, or -1 (absent or reported). */
static int
enum_member (struct nctx *c, const json_t *o, const char *key, bool required,
             const char *const *names, const char *msg, const char *base)
{
  const char *s = bw_errors_string (&c->e, o, key, required, ENUM_MAX, base);
  int i = lookup_name (names, s);
  if (NULL != s && i < 0)
    bw_errors_add (&c->e, msg, "%s/%s", base, key);
  return i;
}

/* A member that must be of JSON type @a type when given; NULL when absent or reported. */
static const json_t *
typed_member (struct nctx *c, const json_t *o, const char *key, bool required, json_type type,
              const char *base)
{
  static const char *const msgs[] = {
    [JSON_OBJECT] = "must be an object",
    [JSON_ARRAY] = "must be an array",
    [JSON_STRING] = "must be a string",
  };
  const json_t *v = json_object_get (o, key);
  if (NULL == v)
    {
      if (required)
        bw_errors_add (&c->e, "is required", "%s/%s", base, key);
      return NULL;
    }
  if (json_typeof (v) != type)
    {
      bw_errors_add (&c->e, msgs[type], "%s/%s", base, key);
      return NULL;
    }
  return v;
}

/* ---- sorting by name ---- */

struct named
{
  const char *name; /* borrowed from v */
  json_t *v;        /* owned until moved into the result */
  size_t index;     /* position in the document */
};

static int
cmp_named (const void *a, const void *b)
{
  const struct named *x = a, *y = b;
  int r = strcmp (x->name, y->name);
  return (0 != r) ? r : (x->index > y->index) - (x->index < y->index);
}

/* @a n items sorted by name into a new array (they are moved there); a
   repeated name is reported at base/<index>/name of the later one. */
static json_t *
sorted_array (struct nctx *c, struct named *items, size_t n, const char *base)
{
  json_t *a = json_array ();
  qsort (items, n, sizeof (*items), cmp_named);
  for (size_t i = 0; i < n; i++)
    {
      if (i > 0 && 0 == strcmp (items[i - 1].name, items[i].name))
        bw_errors_add (&c->e, "repeats an earlier name", "%s/%zu/name", base, items[i].index);
      if (NULL == a || 0 != json_array_append_new (a, items[i].v))
        c->oom = true;
      items[i].v = NULL;
    }
  return a;
}

static void
named_free (struct named *items, size_t n)
{
  for (size_t i = 0; NULL != items && i < n; i++)
    json_decref (items[i].v);
  free (items);
}

/* ---- entry parts ---- */

/* MCP ToolAnnotations: the five keys of lib/catalog.h; unknown keys are
   errors when @a strict, else left out. */
static json_t *
annotations_norm (struct nctx *c, const json_t *a, bool strict, const char *base)
{
  static const char *const keys[]
    = { "title", "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint", NULL };
  json_t *out = json_object ();
  if (NULL == out)
    {
      c->oom = true;
      return NULL;
    }
  if (strict)
    bw_errors_check_keys (&c->e, a, keys, base);
  const char *title = text_member (c, a, "title", false, BW_CATALOG_TEXT_MAX, true, base);
  if (NULL != title)
    put_str (c, out, "title", title);
  for (size_t i = 1; NULL != keys[i]; i++)
    {
      int b = bw_errors_bool (&c->e, a, keys[i], false, base);
      if (b >= 0)
        put (c, out, keys[i], json_boolean (b));
    }
  return out;
}

/* Whether a tool with annotations @a a (normalized) is read-only, and destructive:
   the MCP defaults (readOnlyHint false, destructiveHint true) when absent,
   except that a read-only tool is not destructive unless it says so. */
static void
tool_hints (const json_t *a, bool *read_only, bool *destructive)
{
  const json_t *ro = json_object_get (a, "readOnlyHint");
  const json_t *de = json_object_get (a, "destructiveHint");
  *read_only = json_is_true (ro);
  *destructive = json_is_boolean (de) ? json_is_true (de) : !*read_only;
}

/* The identity of kind @a kind, normalized; NULL when invalid (reported). */
static json_t *
identity_norm (struct nctx *c, const json_t *id, enum kind kind, const char *base)
{
  static const char *const image_keys[] = { "image", "image_digest", NULL };
  static const char *const remote_keys[] = { "url", "transport", NULL };
  static const char *const package_keys[]
    = { "registry_type", "package", "version", "sha256", NULL };
  bool before = c->e.failed;
  json_t *out = json_object ();
  if (NULL == out)
    {
      c->oom = true;
      return NULL;
    }
  c->e.failed = false;
  switch (kind)
    {
    case KIND_IMAGE:
      {
        bw_errors_check_keys (&c->e, id, image_keys, base);
        const char *image
          = str_member (c, id, "image", true, BW_CATALOG_TEXT_MAX, image_check, base);
        const char *digest
          = str_member (c, id, "image_digest", true, DIGEST_LEN, digest_check, base);
        if (NULL != image && NULL != digest)
          {
            put_str (c, out, "image", image);
            put_str (c, out, "image_digest", digest);
          }
        break;
      }
    case KIND_REMOTE:
      {
        bw_errors_check_keys (&c->e, id, remote_keys, base);
        const char *url = bw_errors_string (&c->e, id, "url", true, BW_CATALOG_TEXT_MAX, base);
        int transport = enum_member (c, id, "transport", true, transport_names,
                                     "must be \"streamable-http\" or \"sse\"", base);
        char *copy = (NULL != url) ? strdup (url) : NULL;
        const char *err = (NULL != copy) ? bw_url_normalize (copy, true) : NULL;
        if (NULL != url && NULL == copy)
          c->oom = true;
        else if (NULL != err)
          bw_errors_add (&c->e, err, "%s/url", base);
        else if (NULL != copy && transport >= 0)
          {
            put_str (c, out, "url", copy);
            put_str (c, out, "transport", transport_names[transport]);
          }
        free (copy);
        break;
      }
    case KIND_PACKAGE:
      {
        bw_errors_check_keys (&c->e, id, package_keys, base);
        int reg = enum_member (c, id, "registry_type", true, registry_names,
                               "must be \"npm\", \"pypi\", \"nuget\", \"mcpb\" or \"cargo\"", base);
        bool mcpb = reg >= 0 && 0 == strcmp (registry_names[reg], "mcpb");
        const char *pkg = bw_errors_string (&c->e, id, "package", true, BW_CATALOG_TEXT_MAX, base);
        const char *version
          = str_member (c, id, "version", true, BW_CATALOG_VERSION_MAX, version_check, base);
        const char *sha = str_member (c, id, "sha256", mcpb, BW_SHA256_HEX_LEN, sha_check, base);
        char *copy = (NULL != pkg) ? strdup (pkg) : NULL;
        const char *err = NULL;
        if (NULL != pkg && NULL == copy)
          c->oom = true;
        else if (NULL != copy)
          err = mcpb ? bw_url_normalize (copy, true) : token_check (copy);
        if (NULL != err)
          bw_errors_add (&c->e, err, "%s/package", base);
        else if (reg >= 0 && NULL != copy && NULL != version)
          {
            put_str (c, out, "registry_type", registry_names[reg]);
            put_str (c, out, "package", copy);
            put_str (c, out, "version", version);
            if (NULL != sha)
              put_str (c, out, "sha256", sha);
          }
        free (copy);
        break;
      }
    case KIND_NONE:
      break;
    }
  bool bad = c->e.failed || c->oom || KIND_NONE == kind;
  c->e.failed = c->e.failed || before;
  if (bad)
    {
      json_decref (out);
      return NULL;
    }
  return out;
}

/*
 * The members of array @a v (at most @a max, else error @a too_many at @a base) as
 * a zeroed array of n + 1 struct named for the caller to fill.
 * @return the array (free with named_free), or NULL (error added, or oom set).
 */
_Static_assert (64 == BW_CATALOG_INPUTS_MAX && 512 == BW_CATALOG_TOOLS_MAX
                  && 4096 == BW_CATALOG_TEXT_MAX,
               "the limits as the messages here print them");

static struct named *
array_items (struct nctx *c, const json_t *v, size_t max, const char *too_many, const char *base,
             size_t *n)
{
  if (!json_is_array (v))
    {
      bw_errors_add (&c->e, "must be an array", "%s", base);
      return NULL;
    }
  *n = json_array_size (v);
  if (*n > max)
    {
      bw_errors_add (&c->e, too_many, "%s", base);
      return NULL;
    }
  struct named *items = calloc (*n + 1, sizeof (*items));
  if (NULL == items)
    c->oom = true;
  return items;
}

/* The entry doc's "inputs", normalized and sorted; NULL when invalid. */
static json_t *
inputs_norm (struct nctx *c, const json_t *v, const char *base)
{
  static const char *const keys[]
    = { "name", "kind", "secret", "required", "description", "credential", NULL };
  size_t n = 0, count = 0;
  struct named *items = array_items (c, v, BW_CATALOG_INPUTS_MAX, "must have at most 64 entries", base, &n);
  if (NULL == items)
    return NULL;
  for (size_t i = 0; i < n; i++)
    {
      const json_t *in = json_array_get (v, i);
      char ib[PTR_SIZE];
      snprintf (ib, sizeof (ib), "%s/%zu", base, i);
      if (!json_is_object (in))
        {
          bw_errors_add (&c->e, "must be an object", "%s", ib);
          continue;
        }
      bw_errors_check_keys (&c->e, in, keys, ib);
      const char *name
        = str_member (c, in, "name", true, BW_CATALOG_INPUT_NAME_MAX, token_check, ib);
      int kind = enum_member (c, in, "kind", true, input_kind_names,
                              "must be \"env\", \"header\" or \"argument\"", ib);
      int secret = bw_errors_bool (&c->e, in, "secret", true, ib);
      int required = bw_errors_bool (&c->e, in, "required", true, ib);
      const char *desc = text_member (c, in, "description", false, BW_CATALOG_TEXT_MAX, false, ib);
      const char *cred = bw_errors_string (&c->e, in, "credential", false, BW_CREDENTIAL_MAX, ib);
      const char *err = (NULL != cred) ? bw_credential_check (cred, strlen (cred)) : NULL;
      if (NULL != err)
        bw_errors_add (&c->e, err, "%s/credential", ib);
      else if (NULL != cred && 0 == secret)
        bw_errors_add (&c->e, "only a secret input takes a credential", "%s/credential", ib);
      if (NULL == name || kind < 0 || secret < 0 || required < 0)
        continue;
      json_t *o = json_pack ("{s:s, s:s, s:b, s:b}", "name", name, "kind", input_kind_names[kind],
                             "secret", secret, "required", required);
      if (NULL == o)
        {
          c->oom = true;
          continue;
        }
      if (NULL != desc)
        put_str (c, o, "description", desc);
      if (NULL != cred && NULL == err)
        put_str (c, o, "credential", cred);
      items[count++] = (struct named){ json_string_value (json_object_get (o, "name")), o, i };
    }
  json_t *out = sorted_array (c, items, count, base);
  named_free (items, count);
  return out;
}

/* The entry doc's "tools", normalized and sorted; NULL when invalid. */
static json_t *
tools_norm (struct nctx *c, const json_t *v, const char *base)
{
  static const char *const keys[]
    = { "name", "description_sha256", "description", "annotations", "state", NULL };
  size_t n = 0, count = 0;
  struct named *items = array_items (c, v, BW_CATALOG_TOOLS_MAX, "must have at most 512 entries", base, &n);
  if (NULL == items)
    return NULL;
  for (size_t i = 0; i < n; i++)
    {
      const json_t *t = json_array_get (v, i);
      char tb[PTR_SIZE], ab[PTR_SIZE + 32];
      char hex[BW_SHA256_HEX_LEN + 1] = "";
      snprintf (tb, sizeof (tb), "%s/%zu", base, i);
      if (!json_is_object (t))
        {
          bw_errors_add (&c->e, "must be an object", "%s", tb);
          continue;
        }
      bw_errors_check_keys (&c->e, t, keys, tb);
      const char *name = bw_errors_string (&c->e, t, "name", true, BW_MCP_NAME_MAX, tb);
      const char *err = (NULL != name) ? bw_mcp_name_check (name, strlen (name), false) : NULL;
      if (NULL != err)
        {
          bw_errors_add (&c->e, err, "%s/name", tb);
          name = NULL;
        }
      bool has_sha = NULL != json_object_get (t, "description_sha256");
      bool has_desc = NULL != json_object_get (t, "description");
      const char *desc = NULL, *given = NULL;
      if (!has_sha && !has_desc)
        bw_errors_add (&c->e, "is required (or \"description\")", "%s/description_sha256", tb);
      if (has_desc)
        desc = text_member (c, t, "description", true, BW_CATALOG_TOOL_DESCRIPTION_MAX, false, tb);
      if (has_sha)
        given = str_member (c, t, "description_sha256", true, BW_SHA256_HEX_LEN, sha_check, tb);
      if (NULL != desc)
        bw_sha256_hex (desc, strlen (desc), hex);
      else if (NULL != given && !has_desc)
        memcpy (hex, given, sizeof (hex));
      if (NULL != desc && NULL != given && 0 != strcmp (given, hex))
        bw_errors_add (&c->e, "must be the SHA-256 of \"description\" (or leave it out)",
                       "%s/description_sha256", tb);
      if ((has_sha && NULL == given) || (NULL != desc && NULL != given && 0 != strcmp (given, hex)))
        hex[0] = '\0';
      const json_t *a = typed_member (c, t, "annotations", false, JSON_OBJECT, tb);
      snprintf (ab, sizeof (ab), "%s/annotations", tb);
      json_t *ann = (NULL != a) ? annotations_norm (c, a, true, ab) : json_object ();
      int state = enum_member (c, t, "state", false, state_names,
                               "must be \"approved\" or \"blocked\"", tb);
      if (NULL == json_object_get (t, "state"))
        state = 1; /* blocked */
      if (NULL == ann)
        c->oom = true;
      if (NULL == name || '\0' == hex[0] || NULL == ann || state < 0)
        {
          json_decref (ann);
          continue;
        }
      json_t *o = json_pack ("{s:s, s:s, s:o, s:s}", "name", name, "description_sha256", hex,
                             "annotations", ann, "state", state_names[state]);
      if (NULL == o)
        {
          c->oom = true;
          continue;
        }
      if (NULL != desc)
        put_str (c, o, "description", desc);
      items[count++] = (struct named){ json_string_value (json_object_get (o, "name")), o, i };
    }
  json_t *out = sorted_array (c, items, count, base);
  named_free (items, count);
  return out;
}

static json_t *
entry_norm (struct nctx *c, const json_t *doc)
{
  static const char *const keys[]
    = { "name", "version", "title", "description", "kind", "identity", "inputs", "tools", NULL };
  if (!json_is_object (doc))
    {
      bw_errors_add (&c->e, "a catalog entry must be a JSON object", "%s", "");
      return NULL;
    }
  json_t *out = json_object ();
  if (NULL == out)
    {
      c->oom = true;
      return NULL;
    }
  bw_errors_check_keys (&c->e, doc, keys, "");
  const char *name = str_member (c, doc, "name", true, BW_CATALOG_NAME_MAX, name_check, "");
  const char *version
    = str_member (c, doc, "version", true, BW_CATALOG_VERSION_MAX, version_check, "");
  const char *title = text_member (c, doc, "title", false, BW_CATALOG_TEXT_MAX, true, "");
  const char *desc = text_member (c, doc, "description", false, BW_CATALOG_TEXT_MAX, false, "");
  int kind = enum_member (c, doc, "kind", true, kind_names,
                          "must be \"image\", \"remote\" or \"package\"", "");
  const json_t *id = typed_member (c, doc, "identity", true, JSON_OBJECT, "");
  if (NULL != name)
    put_str (c, out, "name", name);
  if (NULL != version)
    put_str (c, out, "version", version);
  if (NULL != title)
    put_str (c, out, "title", title);
  if (NULL != desc)
    put_str (c, out, "description", desc);
  if (kind >= 0)
    put_str (c, out, "kind", kind_names[kind]);
  if (NULL != id && kind >= 0)
    {
      json_t *idn = identity_norm (c, id, (enum kind) kind, "/identity");
      if (NULL != idn)
        put (c, out, "identity", idn);
    }
  const json_t *inputs = json_object_get (doc, "inputs");
  const json_t *tools = json_object_get (doc, "tools");
  json_t *in = (NULL != inputs) ? inputs_norm (c, inputs, "/inputs") : json_array ();
  json_t *tl = (NULL != tools) ? tools_norm (c, tools, "/tools") : json_array ();
  if (NULL != in)
    put (c, out, "inputs", in);
  else
    c->oom = c->oom || NULL == inputs;
  if (NULL != tl)
    put (c, out, "tools", tl);
  else
    c->oom = c->oom || NULL == tools;
  if (c->e.failed || c->oom)
    {
      json_decref (out);
      return NULL;
    }
  return out;
}

json_t *
bw_catalog_entry_normalize (const json_t *doc, const char *prefix, json_t *errors)
{
  struct nctx c = { 0 };
  bw_errors_init (&c.e, errors, prefix);
  return entry_norm (&c, doc);
}

/* ---- import from server.json ---- */

/* Inputs of one server.json list (environmentVariables, headers, or
   package/runtime arguments when @a arguments: only "named" ones) appended
   to @a inputs as entry-doc inputs of kind @a kind.  Input names are unique
   in an entry: a name given twice is an error, except that a named argument
   repeated (docker's "-e", isRepeated) is one input. */
static void
import_inputs (struct nctx *c, const json_t *list, const char *kind, bool arguments, json_t *inputs,
               const char *base)
{
  if (NULL == list)
    return;
  if (!json_is_array (list))
    {
      bw_errors_add (&c->e, "must be an array", "%s", base);
      return;
    }
  for (size_t i = 0; i < json_array_size (list); i++)
    {
      const json_t *in = json_array_get (list, i);
      char ib[PTR_SIZE];
      snprintf (ib, sizeof (ib), "%s/%zu", base, i);
      if (!json_is_object (in))
        {
          bw_errors_add (&c->e, "must be an object", "%s", ib);
          continue;
        }
      if (arguments)
        {
          static const char *const types[] = { "named", "positional", NULL };
          int type
            = enum_member (c, in, "type", true, types, "must be \"named\" or \"positional\"", ib);
          if (1 == type || type < 0)
            continue; /* a positional argument has no name to bind */
        }
      const char *name
        = str_member (c, in, "name", true, BW_CATALOG_INPUT_NAME_MAX, token_check, ib);
      int secret = bw_errors_bool (&c->e, in, "isSecret", false, ib);
      int required = bw_errors_bool (&c->e, in, "isRequired", false, ib);
      const char *desc = text_member (c, in, "description", false, BW_CATALOG_TEXT_MAX, false, ib);
      if (NULL == name)
        continue;
      for (size_t k = 0; k < json_array_size (inputs) && NULL != name; k++)
        {
          json_t *other = json_array_get (inputs, k);
          if (0 != strcmp (name, json_string_value (json_object_get (other, "name"))))
            continue;
          name = NULL;
          if (!arguments
              || 0 != strcmp ("argument", json_string_value (json_object_get (other, "kind"))))
            {
              bw_errors_add (&c->e, "repeats the name of another input", "%s/name", ib);
              break;
            }
          /* A named argument given more than once ("-e" of docker, isRepeated) is one
             input: secret or required when any of its occurrences is. */
          if (1 == secret)
            put (c, other, "secret", json_true ());
          if (1 == required)
            put (c, other, "required", json_true ());
        }
      if (NULL == name)
        continue;
      if (json_array_size (inputs) >= BW_CATALOG_INPUTS_MAX)
        {
          bw_errors_add (&c->e, "is one input too many: an entry has at most 64", "%s", ib);
          continue;
        }
      json_t *o = json_pack ("{s:s, s:s, s:b, s:b}", "name", name, "kind", kind, "secret",
                             1 == secret, "required", 1 == required);
      if (NULL != o && NULL != desc)
        put_str (c, o, "description", desc);
      if (NULL == o || 0 != json_array_append_new (inputs, o))
        c->oom = true;
    }
}

/* The selected package at @a base into @a doc (kind, identity) and @a inputs. */
static void
import_package (struct nctx *c, const json_t *p, const char *server_version, json_t *doc,
                json_t *inputs, const char *base)
{
  static const char *const keys[]
    = { "registryType",     "registryBaseUrl",      "identifier", "version",
        "fileSha256",       "runtimeHint",          "transport",  "runtimeArguments",
        "packageArguments", "environmentVariables", NULL };
  static const char *const types[] = { "oci", "npm", "pypi", "nuget", "mcpb", "cargo", NULL };
  char b[PTR_SIZE + 32];
  if (!json_is_object (p))
    {
      bw_errors_add (&c->e, "must be an object", "%s", base);
      return;
    }
  bw_errors_check_keys (&c->e, p, keys, base);
  int type
    = enum_member (c, p, "registryType", true, types,
                   "must be \"oci\", \"npm\", \"pypi\", \"nuget\", \"mcpb\" or \"cargo\"", base);
  const char *ident = bw_errors_string (&c->e, p, "identifier", true, BW_CATALOG_TEXT_MAX, base);
  const char *pversion
    = str_member (c, p, "version", false, BW_CATALOG_VERSION_MAX, version_check, base);
  bool mcpb = 4 == type;
  const char *sha = str_member (c, p, "fileSha256", mcpb, BW_SHA256_HEX_LEN, sha_check, base);
  (void) bw_errors_string (&c->e, p, "registryBaseUrl", false, BW_CATALOG_TEXT_MAX, base);
  (void) bw_errors_string (&c->e, p, "runtimeHint", false, BW_CATALOG_TEXT_MAX, base);
  (void) typed_member (c, p, "transport", false, JSON_OBJECT, base);
  snprintf (b, sizeof (b), "%s/environmentVariables", base);
  import_inputs (c, json_object_get (p, "environmentVariables"), "env", false, inputs, b);
  snprintf (b, sizeof (b), "%s/packageArguments", base);
  import_inputs (c, json_object_get (p, "packageArguments"), "argument", true, inputs, b);
  snprintf (b, sizeof (b), "%s/runtimeArguments", base);
  import_inputs (c, json_object_get (p, "runtimeArguments"), "argument", true, inputs, b);
  if (NULL == ident || type < 0)
    return;

  char *id = strdup (ident);
  if (NULL == id)
    {
      c->oom = true;
      return;
    }
  const char *err = NULL;
  json_t *identity = NULL;
  if (0 == type)
    {
      /* "<image>[:tag]@sha256:<hex>": the digest is the identity, a tag is dropped */
      char *at = strchr (id, '@');
      if (NULL == at)
        err = "must be pinned by digest: \"<image>@sha256:<64 hex>\" (a tag alone is not an "
              "identity)";
      else
        {
          *at = '\0';
          char *slash = strrchr (id, '/');
          char *colon = strrchr (id, ':');
          if (NULL != colon && (NULL == slash || colon > slash))
            *colon = '\0';
          err = digest_check (at + 1);
          if (NULL == err)
            err = image_check (id);
          if (NULL == err)
            identity = json_pack ("{s:s, s:s}", "image", id, "image_digest", at + 1);
        }
      put_str (c, doc, "kind", "image");
    }
  else
    {
      err = mcpb ? bw_url_normalize (id, true) : token_check (id);
      const char *v = (NULL != pversion) ? pversion : server_version;
      if (NULL == err && NULL != v)
        {
          identity = json_pack ("{s:s, s:s, s:s}", "registry_type", types[type], "package", id,
                                "version", v);
          if (NULL != identity && NULL != sha)
            put_str (c, identity, "sha256", sha);
        }
      put_str (c, doc, "kind", "package");
    }
  if (NULL != err)
    bw_errors_add (&c->e, err, "%s/identifier", base);
  else if (NULL != identity)
    put (c, doc, "identity", identity);
  free (id);
}

/* The selected remote at @a base into @a doc and @a inputs. */
static void
import_remote (struct nctx *c, const json_t *r, json_t *doc, json_t *inputs, const char *base)
{
  static const char *const keys[] = { "type", "url", "headers", "variables", NULL };
  char b[PTR_SIZE + 32];
  if (!json_is_object (r))
    {
      bw_errors_add (&c->e, "must be an object", "%s", base);
      return;
    }
  bw_errors_check_keys (&c->e, r, keys, base);
  int transport = enum_member (c, r, "type", true, transport_names,
                               "must be \"streamable-http\" or \"sse\"", base);
  const char *url = bw_errors_string (&c->e, r, "url", true, BW_CATALOG_TEXT_MAX, base);
  (void) typed_member (c, r, "variables", false, JSON_OBJECT, base);
  snprintf (b, sizeof (b), "%s/headers", base);
  import_inputs (c, json_object_get (r, "headers"), "header", false, inputs, b);
  char *copy = (NULL != url) ? strdup (url) : NULL;
  const char *err = (NULL != copy) ? bw_url_normalize (copy, true) : NULL;
  if (NULL != url && NULL == copy)
    c->oom = true;
  else if (NULL != err)
    bw_errors_add (&c->e, err, "%s/url", base);
  else if (NULL != copy && transport >= 0)
    put (c, doc, "identity",
         json_pack ("{s:s, s:s}", "url", copy, "transport", transport_names[transport]));
  free (copy);
  put_str (c, doc, "kind", "remote");
}

/* "/packages/<i>" or "/remotes/<i>": 0 and sets *remote and *index, or -1. */
static int
parse_select (const char *select, bool *remote, size_t *index)
{
  const char *p;
  if (0 == strncmp (select, "/packages/", 10))
    {
      *remote = false;
      p = select + 10;
    }
  else if (0 == strncmp (select, "/remotes/", 9))
    {
      *remote = true;
      p = select + 9;
    }
  else
    return -1;
  size_t n = strlen (p);
  if (0 == n || n > 4 || ('0' == p[0] && n > 1) || strspn (p, "0123456789") != n)
    return -1;
  *index = (size_t) strtoul (p, NULL, 10);
  return 0;
}

json_t *
bw_catalog_from_server_json (const json_t *server, const char *select, const char *prefix,
                             json_t *errors)
{
  static const char *const keys[]
    = { "$schema",    "name",  "description", "title",   "version", "websiteUrl",
        "repository", "icons", "packages",    "remotes", "_meta",   NULL };
  struct nctx c = { 0 };
  bw_errors_init (&c.e, errors, prefix);
  if (!json_is_object (server))
    {
      bw_errors_add (&c.e, "a server.json document must be a JSON object", "%s", "");
      return NULL;
    }
  json_t *doc = json_object ();
  json_t *inputs = json_array ();
  if (NULL == doc || NULL == inputs)
    {
      json_decref (doc);
      json_decref (inputs);
      return NULL;
    }
  bw_errors_check_keys (&c.e, server, keys, "");
  const char *name = str_member (&c, server, "name", true, BW_CATALOG_NAME_MAX, name_check, "");
  const char *version
    = str_member (&c, server, "version", true, BW_CATALOG_VERSION_MAX, version_check, "");
  const char *title = text_member (&c, server, "title", false, BW_CATALOG_TEXT_MAX, true, "");
  const char *desc = text_member (&c, server, "description", false, BW_CATALOG_TEXT_MAX, false, "");
  (void) typed_member (&c, server, "$schema", false, JSON_STRING, "");
  (void) typed_member (&c, server, "websiteUrl", false, JSON_STRING, "");
  (void) typed_member (&c, server, "repository", false, JSON_OBJECT, "");
  (void) typed_member (&c, server, "icons", false, JSON_ARRAY, "");
  (void) typed_member (&c, server, "_meta", false, JSON_OBJECT, "");
  const json_t *packages = typed_member (&c, server, "packages", false, JSON_ARRAY, "");
  const json_t *remotes = typed_member (&c, server, "remotes", false, JSON_ARRAY, "");
  size_t np = json_array_size (packages), nr = json_array_size (remotes);
  bool remote = false;
  size_t index = 0;
  bool picked = false;
  if (NULL != select)
    {
      if (0 != parse_select (select, &remote, &index))
        bw_errors_add (&c.e, "select must be \"/packages/<i>\" or \"/remotes/<i>\"", "%s", "");
      else if (index >= (remote ? nr : np))
        bw_errors_add (&c.e, "does not exist (select names no package or remote here)", "%s",
                       select);
      else
        picked = true;
    }
  else if (1 == np + nr)
    {
      remote = (1 == nr);
      picked = true;
    }
  else if (0 == np + nr && NULL == json_object_get (server, "packages")
           && NULL == json_object_get (server, "remotes"))
    bw_errors_add (&c.e, "is required: a package or a remote to pin (or \"remotes\")", "%s",
                   "/packages");
  else if (0 == np + nr)
    bw_errors_add (&c.e, "has no package or remote to pin", "%s", "");
  else
    bw_errors_add (&c.e,
                   "has several packages and remotes: select one (\"/packages/<i>\" or "
                   "\"/remotes/<i>\")",
                   "%s", "");
  if (NULL != name)
    put_str (&c, doc, "name", name);
  if (NULL != version)
    put_str (&c, doc, "version", version);
  if (NULL != title)
    put_str (&c, doc, "title", title);
  if (NULL != desc)
    put_str (&c, doc, "description", desc);
  if (picked)
    {
      char base[PTR_SIZE];
      snprintf (base, sizeof (base), "/%s/%zu", remote ? "remotes" : "packages", index);
      if (remote)
        import_remote (&c, json_array_get (remotes, index), doc, inputs, base);
      else
        import_package (&c, json_array_get (packages, index), version, doc, inputs, base);
    }
  put (&c, doc, "inputs", inputs);
  put (&c, doc, "tools", json_array ());
  json_t *out = NULL;
  if (!c.e.failed && !c.oom)
    {
      /* Everything was checked at its place in the server.json above; what
         the entry's own rules still refuse is reported against the entry. */
      json_t *scratch = json_array ();
      if (NULL != scratch)
        {
          out = bw_catalog_entry_normalize (doc, prefix, scratch);
          json_array_extend (errors, scratch);
          json_decref (scratch);
        }
    }
  json_decref (doc);
  return out;
}

/* ---- tools/list ---- */

/* One tool of a tools/list result, normalized with state "blocked"; NULL when invalid. */
static json_t *
listed_tool (struct nctx *c, const json_t *t, const char *tb)
{
  char hex[BW_SHA256_HEX_LEN + 1], ab[PTR_SIZE + 64];
  if (!json_is_object (t))
    {
      bw_errors_add (&c->e, "must be an object", "%s", tb);
      return NULL;
    }
  const char *name = bw_errors_string (&c->e, t, "name", true, BW_MCP_NAME_MAX, tb);
  const char *err = (NULL != name) ? bw_mcp_name_check (name, strlen (name), false) : NULL;
  if (NULL != err)
    {
      bw_errors_add (&c->e, err, "%s/name", tb);
      name = NULL;
    }
  /* A missing description hashes as "" (lib/catalog.h); so does an empty one. */
  const json_t *d = json_object_get (t, "description");
  const char *desc = "";
  err = NULL;
  if (NULL != d && !json_is_string (d))
    {
      bw_errors_add (&c->e, "must be a string", "%s/description", tb);
      d = NULL;
      name = NULL;
    }
  else if (NULL != d)
    {
      desc = json_string_value (d);
      size_t len = json_string_length (d);
      if (strlen (desc) != len)
        err = "must not contain NUL characters";
      else if (len > BW_CATALOG_TOOL_DESCRIPTION_MAX)
        err = "must be at most 65536 bytes";
      else if (BW_TEXT_INVALID_UTF8 == bw_text_check (desc, len))
        err = bw_text_fault_message (BW_TEXT_INVALID_UTF8);
      if (NULL != err)
        {
          bw_errors_add (&c->e, err, "%s/description", tb);
          name = NULL;
        }
    }
  const json_t *a = typed_member (c, t, "annotations", false, JSON_OBJECT, tb);
  snprintf (ab, sizeof (ab), "%s/annotations", tb);
  json_t *ann = (NULL != a) ? annotations_norm (c, a, false, ab) : json_object ();
  if (NULL == ann)
    c->oom = true;
  if (NULL == name || NULL == ann || (NULL == a && NULL != json_object_get (t, "annotations")))
    {
      json_decref (ann);
      return NULL;
    }
  bw_sha256_hex (desc, strlen (desc), hex);
  json_t *o = json_pack ("{s:s, s:s, s:o, s:s}", "name", name, "description_sha256", hex,
                         "annotations", ann, "state", "blocked");
  if (NULL == o)
    c->oom = true;
  else if ('\0' != desc[0])
    put_str (c, o, "description", desc); /* for the reviewer: the hash is what is pinned */
  return o;
}

json_t *
bw_catalog_tools_from_list (const json_t *list, const char *name, const char *version,
                            const char *prefix, json_t *errors)
{
  static const char *const envelope[] = { "jsonrpc", "id", "result", NULL };
  static const char *const keys[] = { "tools", "nextCursor", "_meta", "server", "version", NULL };
  struct nctx c = { 0 };
  char msg[MSG_SIZE];
  const char *base = "";
  bw_errors_init (&c.e, errors, prefix);
  if (!json_is_object (list))
    {
      bw_errors_add (&c.e, "a tools/list result must be a JSON object", "%s", "");
      return NULL;
    }
  const json_t *res = list;
  if (NULL != json_object_get (list, "jsonrpc"))
    {
      /* the whole JSON-RPC 2.0 response */
      const json_t *jr = json_object_get (list, "jsonrpc");
      const json_t *id = json_object_get (list, "id");
      if (NULL != json_object_get (list, "error"))
        bw_errors_add (&c.e, "is the server's error answer, not a tool list", "%s", "/error");
      else
        bw_errors_check_keys (&c.e, list, envelope, "");
      if (!json_is_string (jr) || 0 != strcmp (json_string_value (jr), "2.0"))
        bw_errors_add (&c.e, "must be \"2.0\"", "%s", "/jsonrpc");
      if (NULL != id && !json_is_string (id) && !json_is_integer (id))
        bw_errors_add (&c.e, "must be a string or an integer", "%s", "/id");
      res = typed_member (&c, list, "result", NULL == json_object_get (list, "error"), JSON_OBJECT,
                          "");
      base = "/result";
      if (NULL == res)
        return NULL;
    }
  bw_errors_check_keys (&c.e, res, keys, base);
  /* A cursor means more pages: this one is not the server's tool list, and
     storing it as such would hide the other tools from the reviewer.  null
     (some servers send it on the last page) is no cursor. */
  const json_t *cursor = json_object_get (res, "nextCursor");
  if (NULL != cursor && !json_is_null (cursor))
    bw_errors_add (&c.e,
                   "a partial list: fetch every page (MCP pagination) and send the tools together",
                   "%s/nextCursor", base);
  (void) typed_member (&c, res, "_meta", false, JSON_OBJECT, base);
  const json_t *sv = typed_member (&c, res, "server", false, JSON_STRING, base);
  const json_t *vv = typed_member (&c, res, "version", false, JSON_STRING, base);
  if (NULL != sv && NULL != name && 0 != strcmp (json_string_value (sv), name))
    {
      snprintf (msg, sizeof (msg), "must be the entry's name \"%.200s\"", name);
      bw_errors_add (&c.e, msg, "%s/server", base);
    }
  if (NULL != vv && NULL != version && 0 != strcmp (json_string_value (vv), version))
    {
      snprintf (msg, sizeof (msg), "must be the entry's version \"%.255s\"", version);
      bw_errors_add (&c.e, msg, "%s/version", base);
    }
  const json_t *tools = typed_member (&c, res, "tools", true, JSON_ARRAY, base);
  char tbase[PTR_SIZE];
  snprintf (tbase, sizeof (tbase), "%s/tools", base);
  size_t n = json_array_size (tools), count = 0;
  if (n > BW_CATALOG_TOOLS_MAX)
    {
      bw_errors_add (&c.e, "must have at most 512 entries", "%s", tbase);
      return NULL;
    }
  struct named *items = calloc (n + 1, sizeof (*items));
  if (NULL == items)
    return NULL;
  for (size_t i = 0; i < n; i++)
    {
      char tb[PTR_SIZE + 24];
      snprintf (tb, sizeof (tb), "%s/%zu", tbase, i);
      json_t *o = listed_tool (&c, json_array_get (tools, i), tb);
      if (NULL != o)
        items[count++] = (struct named){ json_string_value (json_object_get (o, "name")), o, i };
    }
  json_t *out = sorted_array (&c, items, count, tbase);
  named_free (items, count);
  if (c.e.failed || c.oom)
    {
      json_decref (out);
      return NULL;
    }
  return out;
}

/* ---- carrying states, comparing pins ---- */

/* Whether normalized tool annotations @a a and @a b (either may be absent) are the same. */
static bool
same_annotations (const json_t *a, const json_t *b)
{
  return (NULL == a && NULL == b) || json_equal (a, b);
}

void
bw_catalog_tools_carry (json_t *tools, const json_t *previous)
{
  size_t i, k;
  json_t *t, *p;
  json_array_foreach (tools, i, t)
  {
    const char *state = "blocked";
    const json_t *name = json_object_get (t, "name");
    const json_t *sha = json_object_get (t, "description_sha256");
    const json_t *ann = json_object_get (t, "annotations");
    json_array_foreach ((json_t *) previous, k, p)
    {
      const char *ps = json_string_value (json_object_get (p, "state"));
      /* the same tool: name, description hash and annotations, compared as
         normalized JSON: a hint flipped, added or dropped (even one that
         restates an MCP default) or a new title is a changed tool, and a
         changed tool is blocked until reviewed again (fail closed) */
      if (json_equal (name, json_object_get (p, "name"))
          && json_equal (sha, json_object_get (p, "description_sha256"))
          && same_annotations (ann, json_object_get (p, "annotations")) && NULL != ps
          && lookup_name (state_names, ps) >= 0)
        state = ps;
    }
    /* Should the state not be set, the tool holds none: never approved. */
    if (0 != json_object_set_new (t, "state", json_string (state)))
      json_object_del (t, "state");
  }
}

/* What a pin is made of: lib/catalog.h bw_catalog_same_pin. */
static json_t *
pin_of (const json_t *e)
{
  json_t *tools = json_array ();
  size_t i;
  json_t *t;
  json_array_foreach (json_object_get (e, "tools"), i, t)
  {
    json_t *o = json_object ();
    if (NULL == o || 0 != json_array_append_new (tools, o))
      {
        json_decref (tools);
        return NULL;
      }
    static const char *const keys[] = { "name", "description_sha256", "annotations", NULL };
    for (size_t k = 0; NULL != keys[k]; k++)
      if (NULL != json_object_get (t, keys[k]))
        json_object_set (o, keys[k], json_object_get (t, keys[k]));
  }
  json_t *pin
    = json_pack ("{s:O?, s:O?, s:O?, s:O?, s:o}", "name", json_object_get (e, "name"), "version",
                 json_object_get (e, "version"), "kind", json_object_get (e, "kind"), "identity",
                 json_object_get (e, "identity"), "tools", tools);
  return pin;
}

bool
bw_catalog_same_pin (const json_t *a, const json_t *b)
{
  static const char *const keys[] = { "name", "version", "kind", "identity", NULL };
  for (size_t k = 0; NULL != keys[k]; k++)
    if (!json_equal (json_object_get (a, keys[k]), json_object_get (b, keys[k])))
      return false;
  const json_t *ta = json_object_get (a, "tools");
  const json_t *tb = json_object_get (b, "tools");
  if (!json_is_array (ta) || !json_is_array (tb) || json_array_size (ta) != json_array_size (tb))
    return false;
  for (size_t i = 0; i < json_array_size (ta); i++)
    {
      const json_t *x = json_array_get (ta, i), *y = json_array_get (tb, i);
      if (!json_equal (json_object_get (x, "name"), json_object_get (y, "name"))
          || !json_equal (json_object_get (x, "description_sha256"),
                          json_object_get (y, "description_sha256")))
        return false;
      if (!same_annotations (json_object_get (x, "annotations"),
                             json_object_get (y, "annotations")))
        return false;
    }
  return true;
}

int
bw_catalog_pin_sha256 (const json_t *entry, char out[BW_SHA256_HEX_LEN + 1])
{
  json_t *pin = pin_of (entry);
  int rc = (NULL != pin) ? bw_json_digest (pin, out) : -1;
  json_decref (pin);
  return rc;
}

/* ---- the approved slice ---- */

struct cat_input
{
  const char *name;
  const char *credential; /* NULL: not bound */
  bool secret;
};

struct cat_tool
{
  const char *name;
  const char *description_sha256;
  bool read_only;
  bool destructive;
};

struct cat_entry
{
  const char *id;
  const char *name;
  const char *version;
  enum kind kind;
  const char *image_digest;    /* kind image */
  const char *url;             /* kind remote, normalized */
  const char *registry_type;   /* kind package */
  const char *package;         /* kind package */
  const char *package_version; /* kind package */
  const char *sha256;          /* kind package, NULL when not pinned */
  bool has_expiry;
  int64_t expires_at; /* Unix seconds */
  size_t ninputs;
  struct cat_input *inputs;
  size_t ntools;
  struct cat_tool *tools; /* sorted by name */
};

struct bw_catalog
{
  struct bw_arena arena;
  size_t n;
  struct cat_entry *entries; /* sorted by name */
};

static void
say (char *why, size_t whylen, const char *msg)
{
  if (NULL != why && whylen > 0)
    snprintf (why, whylen, "%s", msg);
}

/* A copy of member @a key (a string) of @a o in the arena; NULL when absent or out of memory. */
static const char *
keep (struct bw_catalog *cat, struct nctx *c, const json_t *o, const char *key)
{
  const char *s = json_string_value (json_object_get (o, key));
  char *p = (NULL != s) ? bw_arena_strndup (&cat->arena, s, strlen (s)) : NULL;
  if (NULL != s && NULL == p)
    c->oom = true;
  return p;
}

static void
slice_inputs (struct bw_catalog *cat, struct nctx *c, const json_t *v, struct cat_entry *e)
{
  static const char *const keys[] = { "name", "secret", "credential", NULL };
  if (!json_is_array (v) || json_array_size (v) > BW_CATALOG_INPUTS_MAX)
    {
      bw_errors_add (&c->e, "must be an array of at most 64 inputs", "%s", "/inputs");
      return;
    }
  e->ninputs = json_array_size (v);
  e->inputs = bw_arena_alloc (&cat->arena, (e->ninputs + 1) * sizeof (*e->inputs));
  if (NULL == e->inputs)
    {
      c->oom = true;
      return;
    }
  for (size_t i = 0; i < e->ninputs; i++)
    {
      const json_t *in = json_array_get (v, i);
      char ib[PTR_SIZE];
      snprintf (ib, sizeof (ib), "/inputs/%zu", i);
      if (!json_is_object (in))
        {
          bw_errors_add (&c->e, "must be an object", "%s", ib);
          continue;
        }
      bw_errors_check_keys (&c->e, in, keys, ib);
      const char *name
        = str_member (c, in, "name", true, BW_CATALOG_INPUT_NAME_MAX, token_check, ib);
      int secret = bw_errors_bool (&c->e, in, "secret", true, ib);
      const char *cred = bw_errors_string (&c->e, in, "credential", false, BW_CREDENTIAL_MAX, ib);
      if (NULL != cred && (NULL != bw_credential_check (cred, strlen (cred)) || 1 != secret))
        bw_errors_add (&c->e, "must be a credential name, on a secret input", "%s/credential", ib);
      for (size_t k = 0; NULL != name && k < i; k++)
        if (NULL != e->inputs[k].name && 0 == strcmp (e->inputs[k].name, name))
          bw_errors_add (&c->e, "repeats an earlier name", "%s/name", ib);
      e->inputs[i] = (struct cat_input){ .name = keep (cat, c, in, "name"),
                                         .credential = keep (cat, c, in, "credential"),
                                         .secret = 1 == secret };
    }
}

static void
slice_tools (struct bw_catalog *cat, struct nctx *c, const json_t *v, struct cat_entry *e)
{
  static const char *const keys[] = { "name", "description_sha256", "annotations", NULL };
  if (!json_is_array (v) || json_array_size (v) > BW_CATALOG_TOOLS_MAX)
    {
      bw_errors_add (&c->e, "must be an array of at most 512 tools", "%s", "/tools");
      return;
    }
  e->ntools = json_array_size (v);
  e->tools = bw_arena_alloc (&cat->arena, (e->ntools + 1) * sizeof (*e->tools));
  if (NULL == e->tools)
    {
      c->oom = true;
      return;
    }
  for (size_t i = 0; i < e->ntools; i++)
    {
      const json_t *t = json_array_get (v, i);
      char tb[PTR_SIZE], ab[PTR_SIZE + 32];
      snprintf (tb, sizeof (tb), "/tools/%zu", i);
      if (!json_is_object (t))
        {
          bw_errors_add (&c->e, "must be an object", "%s", tb);
          continue;
        }
      bw_errors_check_keys (&c->e, t, keys, tb);
      const char *name = bw_errors_string (&c->e, t, "name", true, BW_MCP_NAME_MAX, tb);
      if (NULL != name && NULL != bw_mcp_name_check (name, strlen (name), false))
        bw_errors_add (&c->e, "must be an MCP tool name", "%s/name", tb);
      if (NULL != name && i > 0 && NULL != e->tools[i - 1].name
          && strcmp (e->tools[i - 1].name, name) >= 0)
        bw_errors_add (&c->e, "tools must be sorted by name, each once", "%s/name", tb);
      (void) str_member (c, t, "description_sha256", true, BW_SHA256_HEX_LEN, sha_check, tb);
      const json_t *a = typed_member (c, t, "annotations", true, JSON_OBJECT, tb);
      snprintf (ab, sizeof (ab), "%s/annotations", tb);
      json_t *ann = (NULL != a) ? annotations_norm (c, a, true, ab) : NULL;
      struct cat_tool *ct = &e->tools[i];
      ct->name = keep (cat, c, t, "name");
      ct->description_sha256 = keep (cat, c, t, "description_sha256");
      tool_hints (ann, &ct->read_only, &ct->destructive);
      json_decref (ann);
    }
}

/* Entry @a v of the slice into @a e; problems go to c->e. */
static void
slice_entry (struct bw_catalog *cat, struct nctx *c, const json_t *v, struct cat_entry *e)
{
  static const char *const keys[]
    = { "id", "name", "version", "kind", "identity", "expires_at", "inputs", "tools", NULL };
  if (!json_is_object (v))
    {
      bw_errors_add (&c->e, "must be an object", "%s", "");
      return;
    }
  bw_errors_check_keys (&c->e, v, keys, "");
  const char *id = bw_errors_string (&c->e, v, "id", true, BW_UUID_LEN, "");
  if (NULL != id && !bw_uuid_valid (id))
    bw_errors_add (&c->e, "must be a uuid (canonical lowercase form)", "%s", "/id");
  (void) str_member (c, v, "name", true, BW_CATALOG_NAME_MAX, name_check, "");
  (void) str_member (c, v, "version", true, BW_CATALOG_VERSION_MAX, version_check, "");
  int kind = enum_member (c, v, "kind", true, kind_names,
                          "must be \"image\", \"remote\" or \"package\"", "");
  const json_t *idv = typed_member (c, v, "identity", true, JSON_OBJECT, "");
  json_t *idn
    = (NULL != idv && kind >= 0) ? identity_norm (c, idv, (enum kind) kind, "/identity") : NULL;
  const json_t *exp = json_object_get (v, "expires_at");
  if (NULL != exp && !json_is_integer (exp))
    bw_errors_add (&c->e, "must be an integer (Unix seconds)", "%s", "/expires_at");
  const json_t *inputs = typed_member (c, v, "inputs", true, JSON_ARRAY, "");
  const json_t *tools = typed_member (c, v, "tools", true, JSON_ARRAY, "");
  if (NULL != inputs)
    slice_inputs (cat, c, inputs, e);
  if (NULL != tools)
    slice_tools (cat, c, tools, e);
  e->id = keep (cat, c, v, "id");
  e->name = keep (cat, c, v, "name");
  e->version = keep (cat, c, v, "version");
  e->kind = (enum kind) kind;
  e->image_digest = keep (cat, c, idn, "image_digest");
  e->url = keep (cat, c, idn, "url");
  e->registry_type = keep (cat, c, idn, "registry_type");
  e->package = keep (cat, c, idn, "package");
  e->package_version = (KIND_PACKAGE == kind) ? keep (cat, c, idn, "version") : NULL;
  e->sha256 = keep (cat, c, idn, "sha256");
  e->has_expiry = json_is_integer (exp);
  e->expires_at = e->has_expiry ? (int64_t) json_integer_value (exp) : 0;
  json_decref (idn);
}

struct bw_catalog *
bw_catalog_parse (const json_t *slice, char *why, size_t whylen)
{
  say (why, whylen, "");
  if (!json_is_array (slice))
    {
      say (why, whylen, "catalog: not an array");
      return NULL;
    }
  size_t n = json_array_size (slice);
  if (n > BW_CATALOG_SLICE_MAX)
    {
      say (why, whylen, "catalog: more than 1000 entries");
      return NULL;
    }
  struct bw_catalog *cat = calloc (1, sizeof (*cat));
  json_t *errors = json_array ();
  if (NULL == cat || NULL == errors)
    goto oom;
  cat->entries = bw_arena_alloc (&cat->arena, (n + 1) * sizeof (*cat->entries));
  if (NULL == cat->entries)
    goto oom;
  for (size_t i = 0; i < n; i++)
    {
      struct nctx c = { 0 };
      bw_errors_init (&c.e, errors, "");
      slice_entry (cat, &c, json_array_get (slice, i), &cat->entries[i]);
      if (c.oom)
        goto oom;
      if (c.e.failed)
        {
          const json_t *first = json_array_get (errors, 0);
          if (NULL != why && whylen > 0)
            snprintf (why, whylen, "catalog entry %zu: %s: %s", i,
                      json_string_value (json_object_get (first, "pointer")),
                      json_string_value (json_object_get (first, "message")));
          goto fail;
        }
      if (i > 0 && strcmp (cat->entries[i - 1].name, cat->entries[i].name) >= 0)
        {
          if (NULL != why && whylen > 0)
            snprintf (why, whylen,
                      "catalog entry %zu: entries must be sorted by name, one per name", i);
          goto fail;
        }
    }
  cat->n = n;
  json_decref (errors);
  return cat;
oom:
  say (why, whylen, "catalog: out of memory");
fail:
  json_decref (errors);
  bw_catalog_free (cat);
  return NULL;
}

void
bw_catalog_free (struct bw_catalog *c)
{
  if (NULL == c)
    return;
  bw_arena_release (&c->arena);
  free (c);
}

size_t
bw_catalog_size (const struct bw_catalog *c)
{
  return (NULL != c) ? c->n : 0;
}

/* ---- the catalog step ---- */

static const struct cat_entry *
find_entry (const struct bw_catalog *c, const char *name)
{
  size_t lo = 0, hi = (NULL != c) ? c->n : 0;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int r = strcmp (c->entries[mid].name, name);
      if (0 == r)
        return &c->entries[mid];
      if (r < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

static const struct cat_tool *
find_tool (const struct cat_entry *e, const char *name)
{
  size_t lo = 0, hi = e->ntools;
  while (NULL != name && lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      int r = strcmp (e->tools[mid].name, name);
      if (0 == r)
        return &e->tools[mid];
      if (r < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

/* Whether optional request value @a got equals @a want: a missing one is MISSING. */
static enum bw_catalog_check
same (const char *got, const char *want)
{
  if (NULL == got)
    return BW_CATALOG_IDENTITY_MISSING;
  return (0 == strcmp (got, want)) ? BW_CATALOG_APPROVED : BW_CATALOG_IDENTITY_MISMATCH;
}

/* The identity a request names (@a id, when @a given) against entry @a e's
   pin: the same for an MCP request and a credential toward an MCP server. */
static enum bw_catalog_check
identity_step (const struct cat_entry *e, bool given, const struct bw_mcp_identity *id)
{
  enum bw_catalog_check r;
  if (!given)
    return BW_CATALOG_IDENTITY_MISSING;
  switch (e->kind)
    {
    case KIND_IMAGE:
      if (NULL == id->image_digest)
        return BW_CATALOG_IDENTITY_MISMATCH; /* an identity of another kind */
      r = same (id->image_digest, e->image_digest);
      break;
    case KIND_REMOTE:
      if (NULL == id->url)
        return BW_CATALOG_IDENTITY_MISMATCH;
      r = same (id->url, e->url);
      break;
    case KIND_PACKAGE:
      if (NULL == id->package)
        return BW_CATALOG_IDENTITY_MISMATCH;
      /* the registry is part of the package's identity: npm's @x/y is not PyPI's */
      if (BW_CATALOG_APPROVED != (r = same (id->registry_type, e->registry_type)))
        return r;
      if (BW_CATALOG_APPROVED != (r = same (id->package, e->package)))
        return r;
      if (BW_CATALOG_APPROVED != (r = same (id->version, e->package_version)))
        return r;
      return (NULL != e->sha256) ? same (id->sha256, e->sha256) : BW_CATALOG_APPROVED;
    case KIND_NONE:
    default:
      return BW_CATALOG_IDENTITY_MISMATCH;
    }
  /* image and remote: a version, when given, is the entry's */
  if (BW_CATALOG_APPROVED == r && NULL != id->version && 0 != strcmp (id->version, e->version))
    r = BW_CATALOG_IDENTITY_MISMATCH;
  return r;
}

void
bw_catalog_step (const struct bw_catalog *c, int64_t now, const struct bw_decision_request *q,
                 struct bw_catalog_verdict *v)
{
  const char *server;
  *v = (struct bw_catalog_verdict){
    .check = BW_CATALOG_UNCHECKED, .entry_id = NULL, .read_only = false, .destructive = true
  };
  if (BW_SURFACE_MCP == q->surface)
    server = q->u.mcp.server;
  else if (BW_SURFACE_CREDENTIALS == q->surface && q->u.cred.to_server)
    server = q->u.cred.server;
  else
    return;
  const struct cat_entry *e = (NULL != server) ? find_entry (c, server) : NULL;
  if (NULL == e)
    {
      v->check = BW_CATALOG_NOT_APPROVED;
      return;
    }
  v->entry_id = e->id;
  if (e->has_expiry && e->expires_at <= now)
    {
      v->check = BW_CATALOG_EXPIRED;
      return;
    }
  if (BW_SURFACE_CREDENTIALS == q->surface)
    {
      /* the process the credential goes to must be the approved one: a
         server name is what any process can claim */
      v->check = identity_step (e, q->u.cred.has_identity, &q->u.cred.identity);
      if (BW_CATALOG_APPROVED != v->check)
        return;
      v->check = BW_CATALOG_CREDENTIAL_UNBOUND;
      for (size_t i = 0; i < e->ninputs && NULL != q->u.cred.credential; i++)
        if (e->inputs[i].secret && NULL != e->inputs[i].credential
            && 0 == strcmp (e->inputs[i].credential, q->u.cred.credential))
          v->check = BW_CATALOG_APPROVED;
      return;
    }
  v->check = identity_step (e, q->u.mcp.has_identity, &q->u.mcp.identity);
  if (BW_CATALOG_APPROVED != v->check || BW_MCP_INVOKE_TOOL != q->u.mcp.action)
    return;
  const struct cat_tool *t = find_tool (e, q->u.mcp.tool);
  if (NULL == t)
    v->check = BW_CATALOG_TOOL_NOT_APPROVED;
  else if (NULL == q->u.mcp.description_sha256)
    v->check = BW_CATALOG_DESCRIPTION_MISSING;
  else if (0 != strcmp (q->u.mcp.description_sha256, t->description_sha256))
    v->check = BW_CATALOG_DESCRIPTION_CHANGED;
  else
    {
      v->read_only = t->read_only;
      v->destructive = t->destructive;
    }
}
