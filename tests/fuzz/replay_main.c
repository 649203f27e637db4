/* The corpus replayer: a main() for a fuzz target without libFuzzer, so
 * that every build (gcc, gcc with ASan) runs the target on its corpus and
 * a crash once found and fixed stays fixed (ctest fuzz_replay_<target>).
 *
 * Usage: fuzz_<target>_replay FILE_OR_DIR...
 * Every regular file named, and every regular file of a directory named,
 * is one input. Exit 0 after all of them ran (a crash aborts first); exit
 * 1 when nothing was replayed, so a lost corpus cannot pass. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "rt_file.h"

#define REPLAY_MAX_INPUT (4 << 20)

static int replay_file(const char *path) {
  uint8_t *data = NULL;
  size_t len = 0;
  rt_err err;
  if (rt_file_read(path, REPLAY_MAX_INPUT, &data, &len, &err) != RT_OK) {
    fprintf(stderr, "%s\n", err.msg);
    return -1;
  }
  LLVMFuzzerTestOneInput(data, len);
  free(data);
  return 1;
}

/* The number of inputs replayed, -1 on an unreadable one. */
static int replay_dir(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (d == NULL) {
    fprintf(stderr, "cannot open %s\n", dir);
    return -1;
  }
  while (n >= 0 && (e = readdir(d)) != NULL) {
    char path[PATH_MAX];
    struct stat s;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] == '.' || stat(path, &s) != 0 || !S_ISREG(s.st_mode))
      continue;
    int r = replay_file(path);
    n = r < 0 ? -1 : n + 1;
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  int total = 0;
  LLVMFuzzerInitialize(&argc, &argv);
  for (int i = 1; i < argc; i++) {
    struct stat s;
    int n =
        stat(argv[i], &s) == 0 && S_ISDIR(s.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]);
    if (n < 0)
      return 1;
    total += n;
  }
  printf("%s: %d inputs replayed\n", argc > 0 ? argv[0] : "replay", total);
  return total > 0 ? 0 : 1;
}
