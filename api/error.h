/**
 * @file api/error.h
 * The error registry (api/errors.def) as C: enum, status, code, title.
 * Problem documents follow RFC 9457 (application/problem+json).
 */
#ifndef BW_API_ERROR_H
#define BW_API_ERROR_H

/** Every error the server answers.  Generated from api/errors.def. */
enum bw_error
{
#define BW_ERROR(e, code, status, title, doc) e,
#include "api/errors.def"
#undef BW_ERROR
  BW_E__COUNT
};

/** One registry row. */
struct bw_error_info
{
  const char *code;   /**< stable machine-readable code, e.g. "not_found" */
  unsigned int status; /**< HTTP status, 400..599 */
  const char *title;  /**< short human title (RFC 9457 §3.1.4) */
  const char *doc;    /**< paragraph for the docs page */
};

/** Registry row of @a e; @a e must be < BW_E__COUNT. */
const struct bw_error_info *bw_error_info (enum bw_error e);

/** Path of the docs page, also the base of each problem `type` URI. */
#define BW_ERROR_DOCS_PATH "/docs/errors"

/**
 * The docs page as Markdown: one section per code, anchored by code.
 * @return malloc'd string owned by the caller, NULL on allocation failure.
 */
char *bw_error_docs_markdown (void);

#endif
