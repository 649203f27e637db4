#include "rt_sipa.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "rt_hex.h"
#include "rt_json.h"
#include "rt_uefi.h"

/* Bits of a SIPA event id (wbcl.h). */
#define SIPA_AGGREGATION 0x40000000u
#define SIPA_MAX_DEPTH 8

/* Event ids and names from the Windows SDK's wbcl.h: container, information,
 * pre-OS and OS parameters, authority, loaded module, trust point, ELAM, VBS. */
static const struct {
  uint32_t id;
  const char *name;
} names[] = {
    {0x40010001, "SIPAEVENT_TRUSTBOUNDARY"},
    {0x40010002, "SIPAEVENT_ELAM_AGGREGATION"},
    {0x40010003, "SIPAEVENT_LOADEDMODULE_AGGREGATION"},
    {0xc0010004, "SIPAEVENT_TRUSTPOINT_AGGREGATION"},
    {0x40010005, "SIPAEVENT_KSR_AGGREGATION"},
    {0x40010006, "SIPAEVENT_KSR_SIGNED_MEASUREMENT_AGGREGATION"},
    {0x00030001, "SIPAERROR_FIRMWAREFAILURE"},
    {0x80030002, "SIPAERROR_TPMFAILURE"},
    {0x00030003, "SIPAERROR_INTERNALFAILURE"},
    {0x00020001, "SIPAEVENT_INFORMATION"},
    {0x00020002, "SIPAEVENT_BOOTCOUNTER"},
    {0x00020003, "SIPAEVENT_TRANSFER_CONTROL"},
    {0x00020004, "SIPAEVENT_APPLICATION_RETURN"},
    {0x00020005, "SIPAEVENT_BITLOCKER_UNLOCK"},
    {0x00020006, "SIPAEVENT_EVENTCOUNTER"},
    {0x00020007, "SIPAEVENT_COUNTERID"},
    {0x00020008, "SIPAEVENT_MORBIT_NOT_CANCELABLE"},
    {0x00020009, "SIPAEVENT_APPLICATION_SVN"},
    {0x0002000a, "SIPAEVENT_SVN_CHAIN_STATUS"},
    {0x0002000b, "SIPAEVENT_MORBIT_API_STATUS"},
    {0x00040001, "SIPAEVENT_BOOTDEBUGGING"},
    {0x00040002, "SIPAEVENT_BOOT_REVOCATION_LIST"},
    {0x00050001, "SIPAEVENT_OSKERNELDEBUG"},
    {0x00050002, "SIPAEVENT_CODEINTEGRITY"},
    {0x00050003, "SIPAEVENT_TESTSIGNING"},
    {0x00050004, "SIPAEVENT_DATAEXECUTIONPREVENTION"},
    {0x00050005, "SIPAEVENT_SAFEMODE"},
    {0x00050006, "SIPAEVENT_WINPE"},
    {0x00050007, "SIPAEVENT_PHYSICALADDRESSEXTENSION"},
    {0x00050008, "SIPAEVENT_OSDEVICE"},
    {0x00050009, "SIPAEVENT_SYSTEMROOT"},
    {0x0005000a, "SIPAEVENT_HYPERVISOR_LAUNCH_TYPE"},
    {0x0005000b, "SIPAEVENT_HYPERVISOR_PATH"},
    {0x0005000c, "SIPAEVENT_HYPERVISOR_IOMMU_POLICY"},
    {0x0005000d, "SIPAEVENT_HYPERVISOR_DEBUG"},
    {0x0005000e, "SIPAEVENT_DRIVER_LOAD_POLICY"},
    {0x0005000f, "SIPAEVENT_SI_POLICY"},
    {0x00050010, "SIPAEVENT_HYPERVISOR_MMIO_NX_POLICY"},
    {0x00050011, "SIPAEVENT_HYPERVISOR_MSR_FILTER_POLICY"},
    {0x00050012, "SIPAEVENT_VSM_LAUNCH_TYPE"},
    {0x00050013, "SIPAEVENT_OS_REVOCATION_LIST"},
    {0x00050020, "SIPAEVENT_VSM_IDK_INFO"},
    {0x00050021, "SIPAEVENT_FLIGHTSIGNING"},
    {0x00050022, "SIPAEVENT_PAGEFILE_ENCRYPTION_ENABLED"},
    {0x00050023, "SIPAEVENT_VSM_IDKS_INFO"},
    {0x00050024, "SIPAEVENT_HIBERNATION_DISABLED"},
    {0x00050025, "SIPAEVENT_DUMPS_DISABLED"},
    {0x00050026, "SIPAEVENT_DUMP_ENCRYPTION_ENABLED"},
    {0x00050027, "SIPAEVENT_DUMP_ENCRYPTION_KEY_DIGEST"},
    {0x00060001, "SIPAEVENT_NOAUTHORITY"},
    {0x00060002, "SIPAEVENT_AUTHORITYPUBKEY"},
    {0x00070001, "SIPAEVENT_FILEPATH"},
    {0x00070002, "SIPAEVENT_IMAGESIZE"},
    {0x00070003, "SIPAEVENT_HASHALGORITHMID"},
    {0x00070004, "SIPAEVENT_AUTHENTICODEHASH"},
    {0x00070005, "SIPAEVENT_AUTHORITYISSUER"},
    {0x00070006, "SIPAEVENT_AUTHORITYSERIAL"},
    {0x00070007, "SIPAEVENT_IMAGEBASE"},
    {0x00070008, "SIPAEVENT_AUTHORITYPUBLISHER"},
    {0x00070009, "SIPAEVENT_AUTHORITYSHA1THUMBPRINT"},
    {0x0007000a, "SIPAEVENT_IMAGEVALIDATED"},
    {0x0007000b, "SIPAEVENT_MODULE_SVN"},
    {0x80080001, "SIPAEVENT_QUOTE"},
    {0x80080002, "SIPAEVENT_QUOTESIGNATURE"},
    {0x80080003, "SIPAEVENT_AIKID"},
    {0x80080004, "SIPAEVENT_AIKPUBDIGEST"},
    {0x00090001, "SIPAEVENT_ELAM_KEYNAME"},
    {0x00090002, "SIPAEVENT_ELAM_CONFIGURATION"},
    {0x00090003, "SIPAEVENT_ELAM_POLICY"},
    {0x00090004, "SIPAEVENT_ELAM_MEASURED"},
    {0x000a0001, "SIPAEVENT_VBS_VSM_REQUIRED"},
    {0x000a0002, "SIPAEVENT_VBS_SECUREBOOT_REQUIRED"},
    {0x000a0003, "SIPAEVENT_VBS_IOMMU_REQUIRED"},
    {0x000a0004, "SIPAEVENT_VBS_MMIO_NX_REQUIRED"},
    {0x000a0005, "SIPAEVENT_VBS_MSR_FILTERING_REQUIRED"},
    {0x000a0006, "SIPAEVENT_VBS_MANDATORY_ENFORCEMENT"},
    {0x000a0007, "SIPAEVENT_VBS_HVCI_POLICY"},
    {0x000a0008, "SIPAEVENT_VBS_MICROSOFT_BOOT_CHAIN_REQUIRED"},
};

const char *rt_sipa_name(uint32_t id) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].id == id)
      return names[i].name;
  return NULL;
}

/* Events whose data is a UTF-16 string (paths, names). */
static bool is_string(uint32_t id) {
  switch (id) {
  case 0x00050009: /* SYSTEMROOT */
  case 0x0005000b: /* HYPERVISOR_PATH */
  case 0x00070001: /* FILEPATH */
  case 0x00070005: /* AUTHORITYISSUER */
  case 0x00070008: /* AUTHORITYPUBLISHER */
  case 0x00090001: /* ELAM_KEYNAME */
    return true;
  default:
    return false;
  }
}

static json_t *value_json(uint32_t id, const uint8_t *d, size_t n, json_t *obj, int depth);

static json_t *list_json(const uint8_t *d, size_t n, int depth) {
  json_t *arr = json_array();
  size_t pos = 0;
  if (arr == NULL)
    return NULL;
  while (pos < n) {
    json_t *obj = json_object();
    if (obj == NULL || json_array_append_new(arr, obj) != 0)
      goto oom;
    size_t left = n - pos;
    uint32_t size = left >= 8 ? rt_le32(d + pos + 4) : 0;
    if (left < 8 || size > left - 8 || depth >= SIPA_MAX_DEPTH) {
      if (!rt_jset(obj, "malformed", json_true()) ||
          !rt_jset(obj, "offset", json_integer((json_int_t)pos)))
        goto oom;
      break;
    }
    uint32_t id = rt_le32(d + pos);
    char idhex[11];
    snprintf(idhex, sizeof idhex, "0x%08x", (unsigned)id);
    const char *name = rt_sipa_name(id);
    if (!rt_jset(obj, "id", json_string(idhex)) ||
        (name != NULL && !rt_jset(obj, "name", json_string(name))) ||
        !rt_jset(obj, "size", json_integer(size)) ||
        value_json(id, d + pos + 8, size, obj, depth) == NULL)
      goto oom;
    pos += 8 + (size_t)size;
  }
  return arr;
oom:
  json_decref(arr);
  return NULL;
}

/* Adds the event's value to obj; returns obj, NULL when out of memory. */
static json_t *value_json(uint32_t id, const uint8_t *d, size_t n, json_t *obj, int depth) {
  if (id & SIPA_AGGREGATION)
    return rt_jset(obj, "events", list_json(d, n, depth + 1)) ? obj : NULL;
  if (is_string(id) && n % 2 == 0) {
    char *s = rt_utf16_to_utf8(d, n / 2);
    bool ok = s != NULL && rt_jset(obj, "string", json_string(s));
    free(s);
    return ok ? obj : NULL;
  }
  if (n == 1 || n == 2 || n == 4 || (n == 8 && rt_le64(d) <= (uint64_t)INT64_MAX)) {
    uint64_t v = n == 1 ? d[0] : n == 2 ? rt_le16(d) : n == 4 ? rt_le32(d) : rt_le64(d);
    return rt_jset(obj, "value", json_integer((json_int_t)v)) ? obj : NULL;
  }
  char *hex = malloc(2 * n + 1);
  if (hex == NULL)
    return NULL;
  rt_hex(d, n, hex);
  bool ok = rt_jset(obj, "hex", json_string(hex));
  free(hex);
  return ok ? obj : NULL;
}

json_t *rt_sipa_json(const uint8_t *d, size_t n) {
  return list_json(d, n, 0);
}
