#ifndef CRIPCORD_RE2_H
#define CRIPCORD_RE2_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A compiled RE2 pattern (opaque). Immutable after compilation and safe to match from any thread.
typedef struct ripcord_re2 ripcord_re2;

/// Compiles a UTF-8 pattern. On failure returns NULL and, when `error` is not NULL, sets `*error`
/// to a message the caller frees with `ripcord_re2_free_error`.
ripcord_re2 *ripcord_re2_compile(const char *pattern, size_t length, int case_insensitive, char **error);

/// Whether the pattern matches anywhere in the UTF-8 text (unanchored, like Rust's `is_match`).
int ripcord_re2_is_match(const ripcord_re2 *regex, const char *text, size_t length);

void ripcord_re2_free(ripcord_re2 *regex);
void ripcord_re2_free_error(char *error);

#ifdef __cplusplus
}
#endif

#endif
