#include "rt_pcrsel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_hash.h"

/* The banks rattest selects PCRs of: the rt_hash table's TPM algorithms. */
static const rt_hash *bank_alg(const rt_hash *a) {
  return a != NULL && a->tpm ? a : NULL;
}

TPMI_ALG_HASH rt_pcr_bank_parse(const char *name) {
  const rt_hash *a = bank_alg(rt_hash_by_name(name));
  return a == NULL ? TPM2_ALG_ERROR : a->id;
}

const char *rt_pcr_bank_name(TPMI_ALG_HASH alg) {
  const rt_hash *a = bank_alg(rt_hash_by_id(alg));
  return a == NULL ? NULL : a->name;
}

size_t rt_pcr_bank_size(TPMI_ALG_HASH alg) {
  const rt_hash *a = bank_alg(rt_hash_by_id(alg));
  return a == NULL ? 0 : a->size;
}

static TPMS_PCR_SELECTION *bank_entry(TPML_PCR_SELECTION *sel, TPMI_ALG_HASH bank, int create) {
  for (uint32_t i = 0; i < sel->count; i++)
    if (sel->pcrSelections[i].hash == bank)
      return &sel->pcrSelections[i];
  if (!create || sel->count >= TPM2_NUM_PCR_BANKS)
    return NULL;
  TPMS_PCR_SELECTION *e = &sel->pcrSelections[sel->count++];
  memset(e, 0, sizeof *e);
  e->hash = bank;
  e->sizeofSelect = 3; /* 24 PCRs: what every PC Client TPM implements */
  return e;
}

rt_code rt_pcrsel_add(TPML_PCR_SELECTION *sel, TPMI_ALG_HASH bank, uint32_t index, rt_err *err) {
  if (rt_pcr_bank_name(bank) == NULL)
    return rt_err_set(err, RT_E_INVALID, "unknown PCR bank 0x%04x", (unsigned)bank);
  if (index >= RT_PCR_COUNT)
    return rt_err_set(err, RT_E_INVALID, "PCR index %u out of range 0-23", (unsigned)index);
  TPMS_PCR_SELECTION *e = bank_entry(sel, bank, 1);
  if (e == NULL)
    return rt_err_set(err, RT_E_INVALID, "too many PCR banks");
  e->pcrSelect[index / 8] |= (uint8_t)(1u << (index % 8));
  return RT_OK;
}

int rt_pcrsel_has(const TPML_PCR_SELECTION *sel, TPMI_ALG_HASH bank, uint32_t index) {
  for (uint32_t i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
    const TPMS_PCR_SELECTION *e = &sel->pcrSelections[i];
    if (e->hash == bank && index / 8 < e->sizeofSelect && index / 8 < sizeof e->pcrSelect &&
        (e->pcrSelect[index / 8] & (1u << (index % 8))))
      return 1;
  }
  return 0;
}

/* Parses one non-negative decimal number; returns the end or NULL. */
static const char *parse_index(const char *p, uint32_t *out) {
  if (*p < '0' || *p > '9')
    return NULL;
  uint32_t v = 0;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (uint32_t)(*p - '0');
    if (v > 1000)
      return NULL;
    p++;
  }
  *out = v;
  return p;
}

rt_code rt_pcrsel_parse(const char *text, TPML_PCR_SELECTION *sel, rt_err *err) {
  memset(sel, 0, sizeof *sel);
  if (text == NULL || *text == '\0')
    return rt_err_set(err, RT_E_INVALID, "empty PCR selection");
  const char *p = text;
  for (;;) {
    const char *colon = strchr(p, ':');
    if (colon == NULL || colon == p || (size_t)(colon - p) >= 16)
      return rt_err_set(err, RT_E_INVALID, "PCR selection \"%s\": expected BANK:LIST", text);
    char name[16];
    memcpy(name, p, (size_t)(colon - p));
    name[colon - p] = '\0';
    TPMI_ALG_HASH bank = rt_pcr_bank_parse(name);
    if (bank == TPM2_ALG_ERROR)
      return rt_err_set(err, RT_E_INVALID, "PCR selection \"%s\": unknown bank \"%s\"", text, name);
    if (bank_entry(sel, bank, 0) != NULL)
      return rt_err_set(err, RT_E_INVALID, "PCR selection \"%s\": bank %s given twice", text, name);
    p = colon + 1;
    for (;;) {
      uint32_t lo, hi;
      const char *q = parse_index(p, &lo);
      if (q == NULL)
        return rt_err_set(err, RT_E_INVALID, "PCR selection \"%s\": expected a PCR index at \"%s\"",
                          text, p);
      hi = lo;
      if (*q == '-') {
        q = parse_index(q + 1, &hi);
        if (q == NULL || hi < lo)
          return rt_err_set(err, RT_E_INVALID, "PCR selection \"%s\": bad range", text);
      }
      for (uint32_t i = lo; i <= hi; i++) {
        if (rt_pcrsel_has(sel, bank, i))
          return rt_err_set(err, RT_E_INVALID, "PCR selection \"%s\": PCR %u given twice", text,
                            (unsigned)i);
        rt_code code = rt_pcrsel_add(sel, bank, i, err);
        if (code != RT_OK)
          return rt_err_prefix(err, "PCR selection \"%s\": ", text);
      }
      p = q;
      if (*p != ',')
        break;
      p++;
    }
    if (*p == '\0')
      return RT_OK;
    if (*p != '+')
      return rt_err_set(err, RT_E_INVALID, "PCR selection \"%s\": unexpected \"%s\"", text, p);
    p++;
  }
}

int rt_pcrsel_equal(const TPML_PCR_SELECTION *a, const TPML_PCR_SELECTION *b) {
  /* Compare as sets of (bank, index): the wire may order banks or pad
   * select bitmaps differently for the same selection. */
  for (size_t k = 0; k < RT_HASH_COUNT; k++) {
    const rt_hash *bank = bank_alg(rt_hash_at(k));
    for (uint32_t i = 0; bank != NULL && i < RT_PCR_COUNT; i++)
      if (rt_pcrsel_has(a, bank->id, i) != rt_pcrsel_has(b, bank->id, i))
        return 0;
  }
  /* Banks we do not know must not hide in either. */
  size_t na = rt_pcrsel_count(a), nb = rt_pcrsel_count(b);
  return na == nb;
}

size_t rt_pcrsel_count(const TPML_PCR_SELECTION *sel) {
  size_t n = 0;
  for (uint32_t i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
    const TPMS_PCR_SELECTION *e = &sel->pcrSelections[i];
    for (uint8_t b = 0; b < e->sizeofSelect && b < sizeof e->pcrSelect; b++)
      n += (size_t)__builtin_popcount(e->pcrSelect[b]);
  }
  return n;
}

void rt_pcrsel_format(const TPML_PCR_SELECTION *sel, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (uint32_t k = 0; k < sel->count && k < TPM2_NUM_PCR_BANKS; k++) {
    const char *name = rt_pcr_bank_name(sel->pcrSelections[k].hash);
    int n = snprintf(buf + used, len - used, "%s%s:", k ? "+" : "", name ? name : "?");
    if (n < 0 || (size_t)n >= len - used)
      return;
    used += (size_t)n;
    int first = 1;
    for (uint32_t i = 0; i < RT_PCR_COUNT; i++) {
      if (!rt_pcrsel_has(sel, sel->pcrSelections[k].hash, i))
        continue;
      n = snprintf(buf + used, len - used, "%s%u", first ? "" : ",", (unsigned)i);
      if (n < 0 || (size_t)n >= len - used)
        return;
      used += (size_t)n;
      first = 0;
    }
  }
}
