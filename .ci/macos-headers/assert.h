/* Stand-in for the macOS SDK's <assert.h> (see TargetConditionals.h). */
#ifndef BASEHTTP_CI_ASSERT_H
#define BASEHTTP_CI_ASSERT_H
#define assert(expression) ((void)0)
#endif
