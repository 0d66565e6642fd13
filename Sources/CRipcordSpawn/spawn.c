#define _GNU_SOURCE
#include "CRipcordSpawn.h"
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

int ripcord_spawn(pid_t *pid, const char *path, const char *cwd, const char *log_path,
                  char *const argv[], char *const envp[]) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t empty, defaults;
    int result;

    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
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
