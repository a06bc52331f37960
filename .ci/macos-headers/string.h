/* Stand-in for the macOS SDK's <string.h>, for ring's C code under `cargo check` (see
 * TargetConditionals.h). */
#ifndef BASEHTTP_CI_STRING_H
#define BASEHTTP_CI_STRING_H
#include <stddef.h>
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
#endif
