/* under_asan.h — UNDER_ASAN is defined when AddressSanitizer instruments the build (gcc
 * defines __SANITIZE_ADDRESS__, clang answers __has_feature). Tests of resident memory or
 * page faults skip then: ASan replaces malloc, so glibc's mmap/trim thresholds do not
 * apply, and its quarantine keeps freed memory resident. */
#ifndef PQ_TESTS_UNDER_ASAN_H
#define PQ_TESTS_UNDER_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#endif
