#include "rt_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "rt_log.h"

static rt_code parse_number(const char *opt, const char *s, uint64_t *v, const char **rest,
                            rt_err *err) {
  if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" is not a number", opt, s ? s : "");
  errno = 0;
  char *end = NULL;
  unsigned long long n = strtoull(s, &end, 0);
  if (errno != 0 || end == s)
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" is not a number", opt, s);
  *v = n;
  *rest = end;
  return RT_OK;
}

rt_code rt_cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                         rt_err *err) {
  uint64_t v = 0;
  const char *rest = NULL;
  rt_code code = parse_number(opt, s, &v, &rest, err);
  if (code != RT_OK)
    return code;
  if (*rest != '\0')
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" is not a number", opt, s);
  if (v < min || v > max)
    return rt_err_set(err, RT_E_INVALID, "%s: %s is out of range [%llu, %llu]", opt, s,
                      (unsigned long long)min, (unsigned long long)max);
  *out = v;
  return RT_OK;
}

static rt_code scale(const char *opt, const char *s, uint64_t v, uint64_t mult, uint64_t *out,
                     rt_err *err) {
  if (mult != 0 && v > UINT64_MAX / mult)
    return rt_err_set(err, RT_E_INVALID, "%s: %s is too large", opt, s);
  *out = v * mult;
  return RT_OK;
}

rt_code rt_cli_parse_size(const char *opt, const char *s, size_t *out, rt_err *err) {
  uint64_t v = 0;
  const char *rest = NULL;
  rt_code code = parse_number(opt, s, &v, &rest, err);
  if (code != RT_OK)
    return code;
  uint64_t mult;
  if (*rest == '\0' || strcmp(rest, "B") == 0)
    mult = 1;
  else if (strcmp(rest, "K") == 0 || strcmp(rest, "KiB") == 0)
    mult = 1024;
  else if (strcmp(rest, "M") == 0 || strcmp(rest, "MiB") == 0)
    mult = 1024 * 1024;
  else if (strcmp(rest, "G") == 0 || strcmp(rest, "GiB") == 0)
    mult = 1024 * 1024 * 1024;
  else
    return rt_err_set(err, RT_E_INVALID, "%s: unknown size unit in \"%s\" (use KiB, MiB, GiB)", opt,
                      s);
  uint64_t bytes = 0;
  code = scale(opt, s, v, mult, &bytes, err);
  if (code != RT_OK)
    return code;
  if (bytes > SIZE_MAX)
    return rt_err_set(err, RT_E_INVALID, "%s: %s is too large", opt, s);
  *out = (size_t)bytes;
  return RT_OK;
}

rt_code rt_cli_parse_duration_ms(const char *opt, const char *s, uint64_t *out, rt_err *err) {
  uint64_t v = 0;
  const char *rest = NULL;
  rt_code code = parse_number(opt, s, &v, &rest, err);
  if (code != RT_OK)
    return code;
  uint64_t mult;
  if (strcmp(rest, "ms") == 0)
    mult = 1;
  else if (*rest == '\0' || strcmp(rest, "s") == 0)
    mult = 1000;
  else if (strcmp(rest, "m") == 0)
    mult = 60 * 1000;
  else if (strcmp(rest, "h") == 0)
    mult = 3600 * 1000;
  else
    return rt_err_set(err, RT_E_INVALID, "%s: unknown duration unit in \"%s\" (use ms, s, m, h)",
                      opt, s);
  return scale(opt, s, v, mult, out, err);
}

/* The command list's name column: names up to this width are padded to it;
 * a longer name is followed by two spaces, so it never touches its summary. */
#define NAME_WIDTH 10

/* The commands every program has: dispatch and the list both read these
 * rows. */
typedef struct {
  const char *name;
  int (*run)(const rt_cli_program *p, int argc, char **argv);
  const char *summary;
} builtin_command;

static int run_help(const rt_cli_program *p, int argc, char **argv) {
  const rt_cli_command *c = argc > 1 ? rt_cli_find(p, argv[1]) : NULL;
  if (c != NULL && c->usage != NULL)
    c->usage(stdout);
  else
    rt_cli_usage(p, stdout);
  return 0;
}

static int run_version(const rt_cli_program *p, int argc, char **argv) {
  (void)argc;
  (void)argv;
  printf("%s %s\n", p->name, RATTEST_VERSION);
  return 0;
}

static const builtin_command builtins[] = {
    {"help", run_help, "show this help, or `help COMMAND` for a command's options"},
    {"version", run_version, "print the version"},
};

static void list_command(FILE *f, const char *name, const char *summary) {
  if (strlen(name) <= NAME_WIDTH)
    fprintf(f, "  %-*s ", NAME_WIDTH, name);
  else
    fprintf(f, "  %s  ", name);
  for (const char *s = summary; *s != '\0'; s++) {
    fputc(*s, f);
    if (*s == '\n')
      fprintf(f, "%*s", NAME_WIDTH + 3, "");
  }
  fputc('\n', f);
}

const rt_cli_command *rt_cli_find(const rt_cli_program *p, const char *name) {
  for (size_t i = 0; i < p->n_commands; i++)
    if (strcmp(p->commands[i].name, name) == 0)
      return &p->commands[i];
  return NULL;
}

void rt_cli_usage(const rt_cli_program *p, FILE *f) {
  fprintf(f, "Usage: %s [-v]... COMMAND [OPTIONS]\n\n%s\nCommands:\n", p->name, p->about);
  for (size_t i = 0; i < p->n_commands; i++)
    list_command(f, p->commands[i].name, p->commands[i].summary);
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    list_command(f, builtins[i].name, builtins[i].summary);
  fputs("\n"
        "Global options:\n"
        "  -v, --verbose   more log output on stderr (repeat for debug)\n"
        "  -h, --help      show this help\n"
        "  -V, --version   print the version\n",
        f);
  if (p->epilogue != NULL)
    fprintf(f, "\n%s", p->epilogue);
}

int rt_cli_globals(const rt_cli_program *p, int argc, char **argv) {
  static const struct option opts[] = {
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  int c;
  while ((c = getopt_long(argc, argv, "+vhV", opts, NULL)) != -1) {
    switch (c) {
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      rt_cli_usage(p, stdout);
      return 0;
    case 'V':
      return run_version(p, 0, NULL);
    default:
      rt_cli_usage(p, stderr);
      return 2;
    }
  }
  if (optind >= argc) {
    rt_cli_usage(p, stderr);
    return 2;
  }
  return RT_CLI_RUN_COMMAND;
}

int rt_cli_dispatch(const rt_cli_program *p, int argc, char **argv) {
  const rt_cli_command *c = rt_cli_find(p, argv[0]);
  if (c != NULL)
    return c->run(argc, argv);
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, argv[0]) == 0)
      return builtins[i].run(p, argc, argv);
  fprintf(stderr, "%s: unknown command \"%s\"\n", p->name, argv[0]);
  rt_cli_usage(p, stderr);
  return 2;
}
