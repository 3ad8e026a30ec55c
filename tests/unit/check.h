/*
 * check.h - the smallest table-driven test harness: CHECK prints "got X,
 * want Y" with the file and line on failure and counts; check_done() prints
 * the summary line and returns the exit code.
 */
#ifndef SHANTANG_TEST_CHECK_H
#define SHANTANG_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/*
 * check_temp_file - a new temporary file (in $TMPDIR, else /tmp) holding
 * text; its path into path (len bytes; 4096 always suffices). The caller
 * unlinks it. Returns 0, or -1 when it cannot be made or written.
 */
static inline int check_temp_file(const char *text, char *path, size_t len)
{
    const char *dir = getenv("TMPDIR");
    int n = snprintf(path, len, "%s/shantang-test-XXXXXX", dir && *dir ? dir : "/tmp");
    if (n < 0 || (size_t)n >= len)
        return -1;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t want = strlen(text);
    ssize_t w = write(fd, text, want);
    close(fd);
    return w == (ssize_t)want ? 0 : -1;
}

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
