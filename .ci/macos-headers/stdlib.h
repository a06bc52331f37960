/* Stand-in for the macOS SDK's <stdlib.h> (see TargetConditionals.h). */
#ifndef BASEHTTP_CI_STDLIB_H
#define BASEHTTP_CI_STDLIB_H
#include <stddef.h>
void abort(void);
#endif
