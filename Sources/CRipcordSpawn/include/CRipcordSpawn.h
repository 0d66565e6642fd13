#ifndef CRIPCORD_SPAWN_H
#define CRIPCORD_SPAWN_H
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/types.h>

/// Starts `path` with `argv`/`envp` in a new session (its own process group), with stdin from
/// /dev/null, stdout and stderr appended to `log_path`, no other inherited descriptors, in `cwd` when not NULL, and with default
/// signal dispositions and an empty signal mask. Returns 0 or an errno value.
int ripcord_spawn(pid_t *pid, const char *path, const char *cwd, const char *log_path,
                  char *const argv[], char *const envp[]);

/// As `ripcord_spawn`, with standard output and error written to `output_fd` (a pipe's end).
int ripcord_spawn_writing_to(pid_t *pid, const char *path, const char *cwd, int output_fd,
                             char *const argv[], char *const envp[]);

/// A pipe for a command's output: both ends close on exec, and the reading end (`fds[0]`) never
/// blocks, while the command writes to a plain one. Returns 0, or -1 with errno set.
int ripcord_output_pipe(int fds[2]);

/// A descriptor that turns readable when the process `pid` ends (Linux 5.3), or -1 with errno set.
int ripcord_pidfd_open(pid_t pid);

/// Makes standard output line-buffered, so a piped CLI shows each line as it prints it. (Swift 6
/// cannot name the C global `stdout` outside an isolation domain.)
static inline void ripcord_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

#endif
