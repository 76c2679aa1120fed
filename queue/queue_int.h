/*
 * queue_int.h - helpers shared inside the queue module only (queue_*.c).
 */
#ifndef SEALPOST_QUEUE_INT_H
#define SEALPOST_QUEUE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* FNV-1a 64-bit, the drop file checksum (damage detection, not security). */
uint64_t queue_drop_fnv64(const void *data, size_t len);

/*
 * Read a whole drop file into a new buffer (*len bytes, NUL added).
 * Refuses symlinks, non-regular files and files over QUEUE_DROP_MAX.
 * NULL with errno set on failure (EFBIG for too big, EINVAL for not a
 * regular file).
 */
char *queue_drop_read(int dirfd, const char *name, size_t *len);

/* Is name a temporary file of queue_drop_write (still being written)? */
int queue_drop_is_temp(const char *name);

#endif
