/* The --exec command of `renew`: how a long-running server learns that the
 * identity it serves was renewed (e.g. `nginx -s reload`). */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "renew.h"

extern char **environ;

/* The variables the hook receives, replacing any of the same name. */
static const char *const hook_vars[] = {"RATTEST_NAME=", "RATTEST_STATE_DIR=", "RATTEST_CERT_FILE=",
                                        "RATTEST_CHAIN_FILE=", "RATTEST_KEY_FILE="};
#define N_HOOK_VARS (sizeof hook_vars / sizeof hook_vars[0])

static int is_hook_var(const char *entry) {
  for (size_t i = 0; i < N_HOOK_VARS; i++)
    if (strncmp(entry, hook_vars[i], strlen(hook_vars[i])) == 0)
      return 1;
  return 0;
}

static void hook_env_free(char **env) {
  if (env == NULL)
    return;
  for (size_t i = 0; env[i] != NULL; i++)
    if (is_hook_var(env[i]))
      free(env[i]);
  free(env);
}

/* environ without our variables, then ours: built, not setenv'ed, because
 * gRPC may have left threads running in this process. */
static char **hook_env(const char *state_dir, const rt_identity *id) {
  const char *values[N_HOOK_VARS] = {id->name, state_dir, id->cert_file, id->chain_file,
                                     id->key_file};
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  char **env = calloc(n + N_HOOK_VARS + 1, sizeof *env);
  if (env == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (!is_hook_var(environ[i]))
      env[k++] = environ[i];
  for (size_t i = 0; i < N_HOOK_VARS; i++) {
    size_t len = strlen(hook_vars[i]) + strlen(values[i]) + 1;
    if ((env[k] = malloc(len)) == NULL) {
      hook_env_free(env);
      return NULL;
    }
    snprintf(env[k++], len, "%s%s", hook_vars[i], values[i]);
  }
  return env;
}

int rt_renew_hook(const char *cmd, const char *state_dir, const rt_identity *id) {
  char **env = hook_env(state_dir, id);
  if (env == NULL) {
    fprintf(stderr, "rattest-bootstrap renew: --exec: out of memory\n");
    return 1;
  }
  char *argv[] = {"sh", "-c", (char *)cmd, NULL};
  pid_t pid;
  fflush(NULL); /* our output first, then the hook's */
  int err = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, env);
  hook_env_free(env);
  int status = 0;
  if (err != 0) {
    fprintf(stderr, "rattest-bootstrap renew: --exec: cannot run /bin/sh: %s\n", strerror(err));
    return 1;
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "rattest-bootstrap renew: --exec: %s\n", strerror(errno));
      return 1;
    }
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return 0;
  if (WIFEXITED(status))
    fprintf(stderr, "rattest-bootstrap renew: identity \"%s\" renewed, but --exec exited %d\n",
            id->name, WEXITSTATUS(status));
  else
    fprintf(stderr,
            "rattest-bootstrap renew: identity \"%s\" renewed, but --exec was killed "
            "by signal %d\n",
            id->name, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 1;
}
