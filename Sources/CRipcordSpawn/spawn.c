#define _GNU_SOURCE
#include "CRipcordSpawn.h"
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Standard output and error go to `output_fd` when it is not negative, else appended to `log_path`. */
static int spawn(pid_t *pid, const char *path, const char *cwd, const char *log_path, int output_fd,
                 char *const argv[], char *const envp[]) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t empty, defaults;
    int result;

    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (output_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, output_fd, 1);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    }
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    /* Instances must not inherit the controller's sockets: a listening front door held open by a
       child would keep a restarted controller from binding it. */
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (cwd != NULL) {
        posix_spawn_file_actions_addchdir_np(&actions, cwd);
    }
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&attributes, &empty);
    sigfillset(&defaults);
    posix_spawnattr_setsigdefault(&attributes, &defaults);

    result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

int ripcord_spawn(pid_t *pid, const char *path, const char *cwd, const char *log_path,
                  char *const argv[], char *const envp[]) {
    return spawn(pid, path, cwd, log_path, -1, argv, envp);
}

int ripcord_spawn_writing_to(pid_t *pid, const char *path, const char *cwd, int output_fd,
                             char *const argv[], char *const envp[]) {
    return spawn(pid, path, cwd, NULL, output_fd, argv, envp);
}

int ripcord_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

int ripcord_output_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return -1;
    }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    return 0;
}
