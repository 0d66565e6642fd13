#ifndef CRIPCORD_SPAWN_H
#define CRIPCORD_SPAWN_H
#include <stdio.h>
#include <sys/types.h>

/// Starts `path` with `argv`/`envp` in a new session (its own process group), with stdin from
/// /dev/null, stdout and stderr appended to `log_path`, no other inherited descriptors, in `cwd` when not NULL, and with default
/// signal dispositions and an empty signal mask. Returns 0 or an errno value.
int ripcord_spawn(pid_t *pid, const char *path, const char *cwd, const char *log_path,
                  char *const argv[], char *const envp[]);

/// Makes standard output line-buffered, so a piped CLI shows each line as it prints it. (Swift 6
/// cannot name the C global `stdout` outside an isolation domain.)
static inline void ripcord_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

#endif
