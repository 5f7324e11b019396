/* Burst drain: how fast PID 1 reaps N zombies that are re-parented to it at once.
 *
 * Run as the command of the init under test (PID 1 of a new pid namespace). An
 * intermediate process forks N children that exit at once and are never waited
 * for; once all N are zombies it exits, so the kernel hands all N to PID 1 in one
 * go. We time from the intermediate's exit until kill(pid, 0) says ESRCH for every
 * one of them (a zombie still answers kill; a reaped pid does not). Prints the
 * drain time in seconds. Each pass over the remaining pids is followed by a short
 * sleep so this process does not compete with PID 1 for the CPU more than needed.
 *
 *   cc -O2 -o burst bench/burst.c && unshare --pid --fork --mount-proc INIT -- ./burst 2000
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    pid_t *pids = calloc(n, sizeof *pids);
    int fds[2];
    if (!pids || pipe(fds) != 0)
        return 1;
    pid_t mid = fork();
    if (mid < 0)
        return 1;
    if (mid == 0) {
        /* The intermediate: N children that exit at once, their pids to our parent. */
        for (int i = 0; i < n; i++) {
            pid_t c = fork();
            if (c == 0)
                _exit(0);
            pids[i] = c;
        }
        for (int i = 0; i < n; i++) { /* wait until every child is a zombie */
            siginfo_t si;
            si.si_pid = 0;
            if (waitid(P_PID, pids[i], &si, WEXITED | WNOWAIT) != 0)
                _exit(1);
        }
        if (write(fds[1], pids, n * sizeof *pids) != (ssize_t)(n * sizeof *pids))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    size_t want = n * sizeof *pids, got = 0;
    while (got < want) {
        ssize_t r = read(fds[0], (char *)pids + got, want - got);
        if (r <= 0)
            return 1;
        got += r;
    }
    waitpid(mid, NULL, 0); /* the zombies are PID 1's from here on */
    double t0 = now();
    int left = n;
    while (left > 0) {
        int k = 0;
        for (int i = 0; i < left; i++)
            if (!(kill(pids[i], 0) != 0 && errno == ESRCH))
                pids[k++] = pids[i];
        left = k;
        if (left > 0) {
            struct timespec nap = {0, 50000};
            nanosleep(&nap, NULL);
        }
    }
    printf("%.9f\n", now() - t0);
    return 0;
}
