/*
 * Field-spec validation of JSON request objects.  Collects every error
 * before replying, so a client fixes all of them in one round trip.
 */
#include "config.h"
#include "server/fields.h"
#include "server/reply.h"
#include "lib/ident.h"
#include "lib/json_errors.h"
#include "lib/text.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[] = {
  [BW_FIELD_STRING] = "a string",   [BW_FIELD_INTEGER] = "an integer",
  [BW_FIELD_BOOLEAN] = "a boolean", [BW_FIELD_OBJECT] = "an object",
  [BW_FIELD_ARRAY] = "an array",
};

static bool
type_ok (const json_t *v, enum bw_field_type t)
{
  switch (t)
    {
    case BW_FIELD_STRING:
      return json_is_string (v);
    case BW_FIELD_INTEGER:
      return json_is_integer (v);
    case BW_FIELD_BOOLEAN:
      return json_is_boolean (v);
    case BW_FIELD_OBJECT:
      return json_is_object (v);
    case BW_FIELD_ARRAY:
      return json_is_array (v);
    }
  return false;
}

static void
add_error (json_t *errors, const char *key, const char *message)
{
  char ptr[256];
  ptr[0] = '/';
  bw_pointer_escape (key, ptr + 1, sizeof (ptr) - 1);
  json_array_append_new (errors, json_pack ("{s:s, s:s}", "pointer", ptr, "message", message));
}

bool
bw_fields_parse (struct bw_request *rq, const struct bw_field *fields, size_t n)
{
  if (!json_is_object (rq->json))
    {
      bw_reply_invalid (rq, "", "the body must be a JSON object");
      return false;
    }
  json_t *errors = json_array ();
  const char *key;
  json_t *value;
  json_object_foreach (rq->json, key, value)
    {
      bool known = false;
      for (size_t i = 0; i < n; i++)
        known = known || (0 == strcmp (key, fields[i].name));
      if (!known)
        add_error (errors, key, "unknown field");
    }
  for (size_t i = 0; i < n; i++)
    {
      const struct bw_field *f = &fields[i];
      json_t *v = json_object_get (rq->json, f->name);
      char msg[160];
      if (NULL != f->out)
        *f->out = NULL;
      if (NULL == v)
        {
          if (f->required)
            add_error (errors, f->name, "is required");
          continue;
        }
      if (json_is_null (v) && f->nullable)
        continue;
      if (!type_ok (v, f->type))
        {
          snprintf (msg, sizeof (msg), "must be %s", type_names[f->type]);
          add_error (errors, f->name, msg);
          continue;
        }
      size_t max = (0 != f->max_len) ? f->max_len : BW_FIELD_STRING_MAX;
      if (BW_FIELD_STRING == f->type && json_string_length (v) > max)
        {
          snprintf (msg, sizeof (msg), "must be at most %zu bytes", max);
          add_error (errors, f->name, msg);
          continue;
        }
      if (BW_FIELD_STRING == f->type && strlen (json_string_value (v)) != json_string_length (v))
        {
          add_error (errors, f->name, "must not contain NUL characters");
          continue;
        }
      const char *bad = (NULL != f->check) ? f->check (v) : NULL;
      if (NULL != bad)
        {
          add_error (errors, f->name, bad);
          continue;
        }
      if (NULL != f->out)
        *f->out = v;
    }
  if (0 == json_array_size (errors))
    {
      json_decref (errors);
      return true;
    }
  char detail[96];
  snprintf (detail, sizeof (detail), "%zu field%s invalid", json_array_size (errors),
            (1 == json_array_size (errors)) ? " is" : "s are");
  bw_reply_problem (rq, BW_E_VALIDATION, detail, errors);
  return false;
}

const char *
bw_field_check_text (const json_t *value)
{
  return bw_text_fault_message (bw_text_check (json_string_value (value),
                                               json_string_length (value)));
}

const char *
bw_field_check_user_id (const json_t *value)
{
  if (!bw_uuid_valid (json_string_value (value)))
    return "must be the id (a lowercase uuid) of a user of this organization";
  return NULL;
}
