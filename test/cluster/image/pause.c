/*
 * The pod sandbox's pause process for the local test cluster, built into the image
 * registry.k8s.io/pause:3.10 (there is no registry to pull the real one from).
 * It holds the pod's namespaces open, reaps orphans re-parented to it when it is PID 1,
 * and exits 0 when asked to stop.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

static int on(int sig, void (*handler)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("pause (telepath test cluster) 3.10\n");
    return 0;
  }
  if (getpid() != 1) {
    /* Not fatal: it still waits and exits cleanly when started by hand, as in its tests. */
    fprintf(stderr, "pause: warning: not running as PID 1, orphans will not be reaped here\n");
  }
  if (on(SIGINT, stop, 0) < 0 || on(SIGTERM, stop, 0) < 0 ||
      on(SIGCHLD, reap, SA_NOCLDSTOP | SA_RESTART) < 0) {
    perror("pause: sigaction");
    return 1;
  }
  for (;;) {
    pause();
  }
}
