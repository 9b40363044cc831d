#ifndef WARDEN_CRE2_H
#define WARDEN_CRE2_H
// A C surface over RE2 (C++), just wide enough for Rego's regex builtins.
#include <stddef.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cre2_regex cre2_regex;

/// Compiles a pattern with Go's RE2 syntax. On failure returns NULL and writes a message
/// (NUL-terminated, truncated to `error_len`) into `error`.
cre2_regex *cre2_compile(const char *pattern, size_t pattern_len, char *error, size_t error_len);
void cre2_free(cre2_regex *re);
/// Number of capturing groups.
int cre2_groups(const cre2_regex *re);
/// Finds the leftmost match at or after byte `start`. On success fills `offsets` with
/// 2 * (groups + 1) byte offsets (begin, end; -1 for groups that did not take part).
bool cre2_find(const cre2_regex *re, const char *text, size_t text_len, size_t start, long *offsets);

#ifdef __cplusplus
}
#endif
#endif
