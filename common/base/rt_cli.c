#include "rt_cli.h"

#include <ctype.h>
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

static int name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

/* A name or IPv4 address; inside brackets an IPv6 address (hex digits,
 * colons, dots for an embedded IPv4), which may name a zone ("%eth0"). */
static int host_ok(const char *h, size_t n) {
  if (n < 2 || h[0] != '[' || h[n - 1] != ']') {
    for (size_t i = 0; i < n; i++)
      if (!name_char(h[i]))
        return 0;
    return 1;
  }
  int zone = 0;
  for (size_t i = 1; i + 1 < n; i++) {
    char c = h[i];
    if (c == '%' && !zone)
      zone = 1;
    else if (zone ? !name_char(c) : !(isxdigit((unsigned char)c) || c == ':' || c == '.'))
      return 0;
  }
  return 1;
}

/* Where HOST ends in s (at its port's colon, or at the end), or NULL when
 * s is not HOST:PORT-shaped: an unclosed bracket, or a colon in an IPv6
 * address without brackets, whose last group would be taken for the port. */
static const char *host_end(const char *s) {
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    return close != NULL && (close[1] == ':' || close[1] == '\0') ? close + 1 : NULL;
  }
  const char *colon = strchr(s, ':');
  if (colon == NULL)
    return s + strlen(s);
  return strchr(colon + 1, ':') == NULL ? colon : NULL;
}

rt_code rt_cli_parse_hostport(const char *opt, const char *s, unsigned min_port, uint16_t *port,
                              rt_err *err) {
  if (s == NULL || *s == '\0')
    return rt_err_set(err, RT_E_INVALID, "%s: an address HOST:PORT is required", opt);
  const char *end = host_end(s);
  if (end == NULL)
    return rt_err_set(err, RT_E_INVALID,
                      "%s: \"%s\" is not HOST:PORT (an IPv6 address goes in brackets, e.g. "
                      "[::1]:50051)",
                      opt, s);
  size_t host_len = (size_t)(end - s);
  if (host_len == 0 || (s[0] == '[' && host_len == 2))
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" has no host (HOST:PORT)", opt, s);
  if (!host_ok(s, host_len))
    return rt_err_set(err, RT_E_INVALID,
                      "%s: \"%s\": the host must be a name, an IPv4 address or an IPv6 address "
                      "in brackets",
                      opt, s);
  if (end[0] != ':' || end[1] == '\0')
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" has no port (HOST:PORT, e.g. localhost:50051)",
                      opt, s);
  const char *p = end + 1;
  /* Plain decimal: no sign, no 0x, no leading zero (the state file keeps
   * the address as written, so one port has one spelling). */
  size_t digits = strlen(p);
  if (strspn(p, "0123456789") != digits || (p[0] == '0' && digits > 1))
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\": the port \"%s\" is not a number", opt, s, p);
  unsigned long v = digits <= 5 ? strtoul(p, NULL, 10) : 99999;
  if (v < min_port || v > 65535)
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\": port %s is out of range [%u, 65535]", opt, s,
                      p, min_port);
  if (port != NULL)
    *port = (uint16_t)v;
  return RT_OK;
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

static int is_builtin(const char *name);

static int unknown_command(const rt_cli_program *p, const char *name) {
  fprintf(stderr, "%s: unknown command \"%s\"\n", p->name, name);
  rt_cli_usage(p, stderr);
  return 2;
}

/* `help COMMAND` of a command that does not exist is the same error as
 * running it. */
static int run_help(const rt_cli_program *p, int argc, char **argv) {
  const rt_cli_command *c = argc > 1 ? rt_cli_find(p, argv[1]) : NULL;
  if (argc > 1 && c == NULL && !is_builtin(argv[1]))
    return unknown_command(p, argv[1]);
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

static int is_builtin(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0)
      return 1;
  return 0;
}

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
  return unknown_command(p, argv[0]);
}
