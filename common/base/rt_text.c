#include "rt_text.h"

#include <stdio.h>
#include <string.h>

const char *rt_text_bound(const char *s, char out[RT_TEXT_BUF]) {
  static const char hex[] = "0123456789abcdef";
  if (s == NULL)
    s = "";
  size_t o = 0, i = 0;
  /* Only the first RT_TEXT_MAX bytes are copied; the rest is counted. */
  for (; i < RT_TEXT_MAX && s[i] != '\0'; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c <= 0x7e && c != '\\') {
      out[o++] = (char)c;
    } else {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 0xf];
    }
  }
  out[o] = '\0';
  if (s[i] != '\0')
    snprintf(out + o, RT_TEXT_BUF - o, "...(%zu bytes)", i + strlen(s + i));
  return out;
}
