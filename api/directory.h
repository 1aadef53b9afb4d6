/**
 * @file api/directory.h
 * What the directory handlers (api/users.c, api/groups.c) share: the one
 * JSON representation of a user and of a group (responses and audit
 * digests alike), field checks, `{id}` parameters, and paging of their
 * lists.  Field names are the snake_case forms of the SCIM attributes
 * (RFC 7643 §4): userName → user_name, displayName → display_name, ...
 */
#ifndef BW_API_DIRECTORY_H
#define BW_API_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "db/group.h"
#include "db/user.h"
#include "server/request.h"

/**
 * The API representation of @a u: {"id", "user_name", "display_name"
 * (string or null), "external_id" (string or null), "active", "emails",
 * "created_at", "updated_at"}.
 * @return a new object, or NULL on allocation failure.
 */
json_t *api_user_json (const struct db_user *u);

/**
 * The API representation of @a g: {"id", "display_name", "external_id"
 * (string or null), "member_count", "created_at", "updated_at"}.
 * @return a new object, or NULL on allocation failure.
 */
json_t *api_group_json (const struct db_group *g);

/**
 * Path parameter @a i of @a rq if it is a canonical uuid, else NULL: a
 * malformed id is answered 404 like an unknown one.
 */
const char *api_directory_id (const struct bw_request *rq, size_t i);

/**
 * Reply 409 limit_exceeded with the detail "<holder> has <max> <things>,
 * the most it may have" (@a holder "the organization", @a things "users").
 */
enum bw_step api_directory_reply_limit (struct bw_request *rq, const char *holder, long max,
                                        const char *things);

/** One page of a directory list, collected by the db_*_list callbacks below. */
struct api_directory_page
{
  json_t *items;                    /**< owned array */
  unsigned int limit;               /**< page size: one more row is fetched to see if more follow */
  unsigned int count;               /**< objects in items */
  bool more;                        /**< a row beyond the page exists */
  bool failed;                      /**< allocation failure */
  char last_id[BW_UUID_LEN + 1];    /**< id of the last object in items */
  char last_created_at[DB_TS_SIZE]; /**< its created_at */
};

/**
 * Start collecting a page of @a limit objects (fetch limit + 1 rows).
 * @return false on allocation failure.
 */
bool api_directory_page_init (struct api_directory_page *p, unsigned int limit);

/** db_user_cb collecting into a struct api_directory_page. */
void api_directory_page_user (void *cls, const struct db_user *u);

/** db_group_cb collecting into a struct api_directory_page. */
void api_directory_page_group (void *cls, const struct db_group *g);

/**
 * Reply with the page @a p (consumed) collected by a list that returned
 * @a qs: a db error, 500 on allocation failure, else 200 with
 * `next_cursor` "<created_at>|<id>" of the last object when @a by_created
 * (lists ordered by (created_at, id)), else its "<id>" (lists ordered by id).
 */
enum bw_step api_directory_page_reply (struct bw_request *rq, struct api_directory_page *p,
                                       enum db_qs qs, bool by_created);

#endif
