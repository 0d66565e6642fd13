#ifndef CRIPCORD_SPAWN_H
#define CRIPCORD_SPAWN_H
#include <sys/types.h>

/// Starts `path` with `argv`/`envp` in a new session (its own process group), with stdin from
/// /dev/null, stdout and stderr appended to `log_path`, no other inherited descriptors, in `cwd` when not NULL, and with default
/// signal dispositions and an empty signal mask. Returns 0 or an errno value.
int ripcord_spawn(pid_t *pid, const char *path, const char *cwd, const char *log_path,
                  char *const argv[], char *const envp[]);

#endif
