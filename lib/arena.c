/*
 * Bump allocator: blocks in a singly linked list, newest first.
 */
#include "config.h"
#include "lib/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bw_arena_block
{
  struct bw_arena_block *next;
  size_t size; /* usable bytes in data */
  size_t used;
  alignas (max_align_t) unsigned char data[];
};

const char bw_arena_oom[] = "out of memory";

#define ALIGN (alignof (max_align_t))

void *
bw_arena_alloc (struct bw_arena *a, size_t size)
{
  size_t rounded = (size + ALIGN - 1) & ~(ALIGN - 1);
  if (rounded < size)
    return NULL;
  struct bw_arena_block *b = a->head;
  if (NULL == b || b->size - b->used < rounded)
    {
      size_t want = (rounded > BW_ARENA_BLOCK) ? rounded : BW_ARENA_BLOCK;
      if (want > SIZE_MAX - sizeof (*b))
        return NULL;
      b = malloc (sizeof (*b) + want);
      if (NULL == b)
        return NULL;
      b->size = want;
      b->used = 0;
      /* A block made for one large object goes behind the current one, so the
         current block's free space stays usable. */
      if (rounded > BW_ARENA_BLOCK && NULL != a->head)
        {
          b->next = a->head->next;
          a->head->next = b;
        }
      else
        {
          b->next = a->head;
          a->head = b;
        }
    }
  void *p = b->data + b->used;
  b->used += rounded;
  memset (p, 0, size);
  return p;
}

char *
bw_arena_strndup (struct bw_arena *a, const char *s, size_t len)
{
  if (len == SIZE_MAX)
    return NULL;
  char *p = bw_arena_alloc (a, len + 1);
  if (NULL == p)
    return NULL;
  memcpy (p, s, len);
  p[len] = '\0';
  return p;
}

void
bw_arena_release (struct bw_arena *a)
{
  struct bw_arena_block *b = a->head;
  while (NULL != b)
    {
      struct bw_arena_block *next = b->next;
      free (b);
      b = next;
    }
  a->head = NULL;
}
