/*
 * check.h - the smallest table-driven test harness: CHECK prints "got X,
 * want Y" with the file and line on failure and counts; check_done() prints
 * the summary line and returns the exit code.
 */
#ifndef SHANTANG_TEST_CHECK_H
#define SHANTANG_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed;
static int check_passed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want, what)                                                                 \
    CHECK((long long)(got) == (long long)(want), "%s: got %lld, want %lld", what,                  \
          (long long)(got), (long long)(want))

#define CHECK_STR(got, want, what) check_str((got), (want), (what), __FILE__, __LINE__)

/* check_str - compare two strings, NULL got never equal */
static inline void check_str(const char *got, const char *want, const char *what, const char *file,
                             int line)
{
    if (got != NULL && want != NULL && strcmp(got, want) == 0) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s\"\n", file, line, what, got ? got : "(null)",
            want ? want : "(null)");
}

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
