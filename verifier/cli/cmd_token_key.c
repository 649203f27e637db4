#include "cmd_token_key.h"

#include <stdbool.h>
#include <string.h>

#include "enroll.h"

void rt_cmd_token_key_usage(FILE *f) {
  fprintf(f, "Usage: rattest-verifier token-key FILE\n"
             "\n"
             "Writes a new random 32-byte session token key to FILE (mode 0600; an\n"
             "existing file is never overwritten). Give the same file to every\n"
             "verifier behind one address with --token-key.\n"
             "\n"
             "Options:\n"
             "  -h, --help  show this help\n"
             "\n"
             "Exit status: 0 written, 1 not written (FILE exists, or cannot be created),\n"
             "2 bad usage.\n");
}

/* Verifiers that share this key can finish each other's sessions. */
int rt_cmd_token_key(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    bool help = argc == 2 && strcmp(argv[1], "--help") == 0;
    rt_cmd_token_key_usage(help ? stdout : stderr);
    return help ? 0 : 2;
  }
  rt_err err;
  if (rt_token_key_generate_file(argv[1], &err) != RT_OK) {
    fprintf(stderr, "rattest-verifier token-key: %s\n", err.msg);
    return 1;
  }
  printf("session token key written to %s\n", argv[1]);
  return 0;
}
