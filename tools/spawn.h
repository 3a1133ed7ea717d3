/* SPDX-License-Identifier: MIT */
/*
 * Starting a command for `writewatch run` (tools/spawn.c): stopped at its
 * first instruction, with a watchdog that lets every process we hold
 * stopped go on if writewatch dies.
 */
#ifndef WW_TOOLS_SPAWN_H
#define WW_TOOLS_SPAWN_H

#include <signal.h>
#include <sys/types.h>

struct watchdog;

/* Fork the watchdog: a small process, out of our session, that continues
 * (SIGCONT) every process it holds when writewatch's end of its pipe
 * closes without a goodbye. NULL if it cannot be started. */
struct watchdog *watchdog_start(void);

/* Hold pid before we may leave it group-stopped; release it after we have
 * continued it. */
void watchdog_hold(struct watchdog *d, pid_t pid);
void watchdog_release(struct watchdog *d, pid_t pid);

/* Say goodbye (continue nothing), reap it, free d. */
void watchdog_stop(struct watchdog *d);

/* Start argv with the signal mask *mask, stopped (group-stop, not traced)
 * after its execve and before its first instruction; held by d. Its pid,
 * or -1 with a message on stderr. */
pid_t spawn_stopped(char **argv, struct watchdog *d, const sigset_t *mask);

#endif
