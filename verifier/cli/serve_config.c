#include "serve_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_file.h"

#define CONFIG_MAX (1u << 20)

/* The --config argument of argv (either form), and where it is: *skip
 * words at *at. NULL when absent; an error when given twice. */
static rt_code find_config(int argc, char **argv, const char **file, int *at, int *skip,
                           rt_err *err) {
  *file = NULL;
  for (int i = 1; i < argc; i++) {
    const char *f = NULL;
    int n = 0;
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
      f = argv[i + 1], n = 2;
    else if (strncmp(argv[i], "--config=", 9) == 0)
      f = argv[i] + 9, n = 1;
    if (f == NULL)
      continue;
    if (*file != NULL)
      return rt_err_set(err, RT_E_INVALID, "--config given twice");
    *file = f, *at = i, *skip = n;
  }
  return RT_OK;
}

static const struct option *option_named(const struct option *table, const char *name) {
  for (; table->name != NULL; table++)
    if (strcmp(table->name, name) == 0)
      return table;
  return NULL;
}

/* "--key" or "--key=value" for one entry of the file; *word NULL when the
 * entry adds nothing (false). */
static rt_code entry_word(const struct option *table, const char *file, const char *key,
                          json_t *value, char **word, rt_err *err) {
  *word = NULL;
  const struct option *opt = option_named(table, key);
  if (opt == NULL || strcmp(key, "config") == 0 || strcmp(key, "help") == 0)
    return rt_err_set(err, RT_E_INVALID, "%s: unknown key \"%.64s\"", file, key);
  char buf[4096];
  if (opt->has_arg == no_argument) {
    if (!json_is_boolean(value))
      return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" must be true or false", file, key);
    if (json_is_false(value))
      return RT_OK;
    snprintf(buf, sizeof buf, "--%s", key);
  } else if (json_is_string(value)) {
    if ((size_t)snprintf(buf, sizeof buf, "--%s=%s", key, json_string_value(value)) >= sizeof buf)
      return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" is too long", file, key);
  } else if (json_is_integer(value)) {
    snprintf(buf, sizeof buf, "--%s=%lld", key, (long long)json_integer_value(value));
  } else {
    return rt_err_set(err, RT_E_INVALID, "%s: \"%s\" must be a string or a number", file, key);
  }
  return (*word = strdup(buf)) != NULL ? RT_OK : rt_err_set(err, RT_E_NOMEM, "out of memory");
}

/* The words of every entry of the file's object, in its order. */
static rt_code file_words(const struct option *table, const char *file, rt_serve_args *args,
                          rt_err *err) {
  uint8_t *text = NULL;
  size_t len = 0;
  if (rt_file_read(file, CONFIG_MAX, &text, &len, err) != RT_OK)
    return rt_err_prefix(err, "--config: ");
  json_error_t jerr;
  json_t *root = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!json_is_object(root)) {
    json_decref(root);
    return rt_err_set(err, RT_E_INVALID, "%s: not a JSON object (line %d: %s)", file, jerr.line,
                      root == NULL ? jerr.text : "another type");
  }
  args->owned = calloc(json_object_size(root) + 1, sizeof *args->owned);
  rt_code code = args->owned != NULL ? RT_OK : rt_err_set(err, RT_E_NOMEM, "out of memory");
  const char *key;
  json_t *value;
  json_object_foreach(root, key, value) {
    char *word = NULL;
    if (code == RT_OK && (code = entry_word(table, file, key, value, &word, err)) == RT_OK &&
        word != NULL)
      args->owned[args->n_owned++] = word;
  }
  json_decref(root);
  return code;
}

rt_code rt_serve_config_args(const struct option *table, int argc, char **argv, rt_serve_args *args,
                             rt_err *err) {
  memset(args, 0, sizeof *args);
  const char *file = NULL;
  int at = 0, skip = 0;
  if (find_config(argc, argv, &file, &at, &skip, err) != RT_OK ||
      (file != NULL && file_words(table, file, args, err) != RT_OK))
    return RT_E_INVALID;
  args->argv = calloc((size_t)(argc + args->n_owned + 1), sizeof *args->argv);
  if (args->argv == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  args->argv[args->argc++] = argv[0];
  for (int i = 0; i < args->n_owned; i++)
    args->argv[args->argc++] = args->owned[i];
  for (int i = 1; i < argc; i++)
    if (file == NULL || i < at || i >= at + skip)
      args->argv[args->argc++] = argv[i];
  return RT_OK;
}

void rt_serve_args_free(rt_serve_args *args) {
  for (int i = 0; i < args->n_owned; i++)
    free(args->owned[i]);
  free(args->owned);
  free(args->argv);
  memset(args, 0, sizeof *args);
}
