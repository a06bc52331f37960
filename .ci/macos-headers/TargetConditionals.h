/* The one Apple SDK header ring's C code includes, for `cargo check --target
 * x86_64-apple-darwin` on Linux (.ci/run): the objects are compiled by clang but never linked. */
#ifndef BASEHTTP_CI_TARGET_CONDITIONALS_H
#define BASEHTTP_CI_TARGET_CONDITIONALS_H
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#endif
