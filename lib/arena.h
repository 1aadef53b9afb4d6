/**
 * @file lib/arena.h
 * A bump allocator for objects that are built once and freed at once: a
 * parsed policy or decision request owns one arena, and everything it points
 * to lives in it.  Not thread-safe while being filled; read-only afterwards.
 */
#ifndef BW_LIB_ARENA_H
#define BW_LIB_ARENA_H

#include <stddef.h>

/** Bytes in an ordinary block; larger requests get a block of their own. */
#define BW_ARENA_BLOCK 8192

struct bw_arena_block;

/** An arena.  Zero-initialize it ({ 0 }) before the first allocation. */
struct bw_arena
{
  struct bw_arena_block *head; /**< most recent block first */
};

/**
 * @a size bytes, zeroed, aligned for any type, owned by @a a.
 * @return the memory, or NULL when out of memory.
 */
void *bw_arena_alloc (struct bw_arena *a, size_t size);

/** A NUL-terminated copy of @a len bytes at @a s in @a a, or NULL when out of memory. */
char *bw_arena_strndup (struct bw_arena *a, const char *s, size_t len);

/**
 * The message parse functions of lib/ return when an arena allocation
 * failed; callers compare the pointer to tell it from a validation error.
 */
extern const char bw_arena_oom[];

/** Free every block of @a a; @a a is empty afterwards and may be reused. */
void bw_arena_release (struct bw_arena *a);

#endif
