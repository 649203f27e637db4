/* common/rt_evstate (and the decoders under it): facts from the five real
 * logs in tests/data/eventlogs (no mismatch; secure boot, key databases,
 * authorities, boot applications, command lines as those machines measured
 * them); each real log altered in place, where exactly the altered event
 * must become a MISMATCH and drop out of the state while replay still gives
 * the same PCRs; and small crypto-agile logs built here with correct digests
 * over malformed payloads, which must contribute nothing and not crash.
 *
 * Usage: test_evstate DATA_DIR   (ctest: evstate; DATA_DIR is
 * tests/data/eventlogs) */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_evdecode.h"
#include "rt_eventlog.h"
#include "rt_evstate.h"
#include "rt_evstate_out.h"
#include "rt_file.h"
#include "rt_hex.h"
#include "rt_test.h"

static const char *data_dir;

static uint8_t *read_log(const char *rel, size_t *len) {
  char path[1024];
  uint8_t *buf = NULL;
  rt_err err;
  snprintf(path, sizeof path, "%s/%s", data_dir, rel);
  if (rt_file_read(path, RT_EVENTLOG_DEFAULT_MAX_SIZE, &buf, len, &err) != RT_OK)
    CHECK(0, "%s", err.msg);
  return buf;
}

/* Parses and derives; false (after a failed CHECK) if either fails. */
static bool load(const uint8_t *buf, size_t len, rt_eventlog *log, rt_evstate *st) {
  rt_err err = {0};
  memset(st, 0, sizeof *st);
  if (rt_eventlog_parse(buf, len, NULL, log, &err) != RT_OK) {
    CHECK(0, "parse: %s", err.msg);
    return false;
  }
  rt_evproof all;
  rt_evproof_all(log, &all);
  if (rt_evstate_derive(log, &all, st, &err) != RT_OK) {
    CHECK(0, "derive: %s", err.msg);
    rt_eventlog_free(log);
    return false;
  }
  return true;
}

static size_t count(const rt_evstate *st, rt_evcheck c) {
  size_t n = 0;
  for (size_t i = 0; i < st->n_events; i++)
    n += st->checks[i] == c;
  return n;
}

static bool hex_prefix(const uint8_t *b, size_t n, const char *want) {
  char hex[2 * 64 + 1];
  rt_hex(b, n, hex);
  return strncmp(hex, want, strlen(want)) == 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = s != NULL ? strlen(s) : 0, b = strlen(suffix);
  return s != NULL && a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Every event's data decodes to a JSON object. */
static void decode_all(const char *what, const rt_eventlog *log) {
  size_t bad = SIZE_MAX;
  for (size_t i = 0; i < log->n_events && bad == SIZE_MAX; i++) {
    json_t *j = rt_evdecode_json(log, i);
    if (!json_is_object(j))
      bad = i;
    json_decref(j);
  }
  CHECK(bad == SIZE_MAX, "%s: event %zu does not decode", what, bad);
  json_t *s = rt_evstate_json(log, &(rt_evstate){0});
  CHECK(s != NULL, "%s: empty state JSON", what);
  json_decref(s);
}

/* ---- the real logs ---------------------------------------------------- */

#define RHEL8 "rhel8-gce-vtpm/rhel8-uefi.bin"
#define COS85 "gce-cos85/eventlog.bin"
#define LAPTOP "glinux-alex-laptop/glinux-alex.bin"
#define ARCH "arch-linux-workstation/arch-linux-workstation.bin"
#define WINDOWS "windows-gcp-shielded-vm/eventlog.bin"

static const char rhel8_cmdline[] =
    "(hd0,gpt2)/boot/vmlinuz-4.18.0-240.22.1.el8_3.x86_64 "
    "root=UUID=f3948fb4-cce7-4193-940a-c50052e93bf3 ro net.ifnames=0 biosdevname=0 "
    "scsi_mod.use_blk_mq=Y crashkernel=auto console=ttyS0,38400n8";

static void test_rhel8(void) {
  size_t len;
  uint8_t *buf = read_log(RHEL8, &len);
  rt_eventlog log;
  rt_evstate st;
  if (buf == NULL || !load(buf, len, &log, &st)) {
    free(buf);
    return;
  }
  decode_all("rhel8", &log);
  CHECK(st.n_events == 83 && st.n_mismatches == 0, "rhel8: %zu mismatches", st.n_mismatches);
  CHECK(count(&st, RT_EVCHECK_OK) == 74 && count(&st, RT_EVCHECK_UNCHECKED) == 9,
        "rhel8: %zu ok, %zu unchecked", count(&st, RT_EVCHECK_OK),
        count(&st, RT_EVCHECK_UNCHECKED));
  /* GCE firmware hashes only VariableData for BootOrder (event 9); Red Hat's
   * GRUB hashes "grub_cmd " strings with their NUL (28), the kernel command
   * line without (78); shim's "MokList" label (24, PCR 14) is unchecked. */
  CHECK(st.checks[9] == RT_EVCHECK_OK && st.checks[28] == RT_EVCHECK_OK &&
            st.checks[78] == RT_EVCHECK_OK && st.checks[24] == RT_EVCHECK_UNCHECKED &&
            st.checks[0] == RT_EVCHECK_UNCHECKED && st.checks[23] == RT_EVCHECK_UNCHECKED,
        "rhel8 checks");
  CHECK(st.secure_boot == RT_SECURE_BOOT_ON && st.secure_boot_event == 3, "rhel8: secure boot %s",
        rt_secure_boot_name(st.secure_boot));
  CHECK(st.pk.present && st.pk.event == 4 && st.pk.data_len == 806 &&
            hex_prefix(st.pk.sha256, 32, "03f8844e4692b98c"),
        "rhel8 PK");
  CHECK(st.kek.present && st.kek.event == 5 && st.db.present && st.db.event == 6, "rhel8 KEK/db");
  CHECK(st.dbx.present && st.dbx.event == 7 && st.dbx.data_len == 11936 &&
            hex_prefix(st.dbx.sha256, 32, "14bbeada46dcb45e"),
        "rhel8 dbx");
  CHECK(st.n_dbx_sha256 == 183, "rhel8: %zu dbx SHA-256 entries", st.n_dbx_sha256);
  CHECK(st.n_authorities == 2, "rhel8: %zu authorities", st.n_authorities);
  if (st.n_authorities == 2) {
    CHECK(st.authorities[0].event == 21 && strcmp(st.authorities[0].variable, "db") == 0 &&
              st.authorities[0].subject != NULL &&
              strncmp(st.authorities[0].subject, "CN=Microsoft Corporation UEFI CA 2011,", 38) ==
                  0 &&
              hex_prefix(st.authorities[0].sha256, 32, "48e99b991f57fc52"),
          "rhel8 authority 0: %s", st.authorities[0].subject);
    /* shim measures its vendor certificate bare, variable "Shim". */
    CHECK(st.authorities[1].event == 27 && strcmp(st.authorities[1].variable, "Shim") == 0 &&
              st.authorities[1].subject != NULL &&
              strstr(st.authorities[1].subject, "CN=Red Hat Secure Boot CA 5") != NULL,
          "rhel8 authority 1: %s", st.authorities[1].subject);
  }
  CHECK(st.n_boot_apps == 3, "rhel8: %zu boot apps", st.n_boot_apps);
  if (st.n_boot_apps == 3) {
    CHECK(st.boot_apps[0].event == 23 && st.boot_apps[0].path != NULL &&
              strcmp(st.boot_apps[0].path,
                     "PciRoot(0x0)/Pci(0x3,0x0)/Scsi(0x1,0x0)/"
                     "HD(1,GPT,ef72374c-2630-46a1-88d6-082693781140,0x800,0x64000)/"
                     "\\EFI\\redhat\\shimx64.efi") == 0,
          "rhel8 app 0: %s", st.boot_apps[0].path);
    CHECK(st.boot_apps[1].event == 26 && st.boot_apps[1].path != NULL &&
              strcmp(st.boot_apps[1].path, "\\EFI\\redhat\\grubx64.efi") == 0,
          "rhel8 app 1: %s", st.boot_apps[1].path);
    CHECK(st.boot_apps[2].event == 77 && st.boot_apps[2].path == NULL, "rhel8 app 2 (kernel)");
  }
  CHECK(st.n_cmdlines == 1 && st.cmdlines[0].event == 78 &&
            strcmp(st.cmdlines[0].cmdline, rhel8_cmdline) == 0,
        "rhel8 cmdline: %s", st.n_cmdlines ? st.cmdlines[0].cmdline : "none");
  CHECK(st.separators == 0xff && st.separator_error == 0, "rhel8 separators %#" PRIx32,
        st.separators);
  rt_evstate_free(&st);
  rt_evstate_free(&st); /* twice is fine */
  rt_eventlog_free(&log);
  free(buf);
}

static void test_cos85(void) {
  size_t len;
  uint8_t *buf = read_log(COS85, &len);
  rt_eventlog log;
  rt_evstate st;
  if (buf == NULL || !load(buf, len, &log, &st)) {
    free(buf);
    return;
  }
  decode_all("cos85", &log);
  CHECK(st.n_mismatches == 0 && count(&st, RT_EVCHECK_OK) == 39, "cos85: %zu mismatches, %zu ok",
        st.n_mismatches, count(&st, RT_EVCHECK_OK));
  /* shim 15's authorities hash 5 bytes past their structure (24, 41);
   * upstream GRUB strings hash without prefix and NUL (25, 42). */
  CHECK(st.checks[24] == RT_EVCHECK_OK && st.checks[41] == RT_EVCHECK_OK &&
            st.checks[25] == RT_EVCHECK_OK && st.checks[42] == RT_EVCHECK_OK &&
            st.checks[39] == RT_EVCHECK_UNCHECKED,
        "cos85 checks");
  CHECK(st.secure_boot == RT_SECURE_BOOT_ON && st.secure_boot_event == 3, "cos85: secure boot %s",
        rt_secure_boot_name(st.secure_boot));
  CHECK(st.pk.present && hex_prefix(st.pk.sha256, 32, "ec70b95b7fce7a97"), "cos85 PK");
  /* Its dbx holds 4 X.509 certificates and no digest. */
  CHECK(st.dbx.present && st.dbx.data_len == 4461 && st.n_dbx_sha256 == 0, "cos85 dbx: %zu",
        st.n_dbx_sha256);
  CHECK(st.n_authorities == 3, "cos85: %zu authorities", st.n_authorities);
  static const uint32_t cos85_authority_events[] = {20, 24, 41};
  for (size_t i = 0; i < st.n_authorities && i < 3; i++)
    CHECK(st.authorities[i].event == cos85_authority_events[i] &&
              strcmp(st.authorities[i].variable, "db") == 0 && st.authorities[i].subject != NULL &&
              strncmp(st.authorities[i].subject, "CN=UEFI DB Key v10,OU=Container Optimized OS,",
                      44) == 0 &&
              hex_prefix(st.authorities[i].sha256, 32, "a7b8c851deb2acba"),
          "cos85 authority %zu: %s", i, st.authorities[i].subject);
  CHECK(st.n_boot_apps == 3 && st.boot_apps[0].event == 22 &&
            ends_with(st.boot_apps[0].path, "/\\EFI\\BOOT\\BOOTX64.EFI") &&
            st.boot_apps[1].path == NULL && st.boot_apps[2].event == 40,
        "cos85 boot apps: %zu", st.n_boot_apps);
  CHECK(st.n_cmdlines == 1 && st.cmdlines[0].event == 42 &&
            strncmp(st.cmdlines[0].cmdline,
                    "/syslinux/vmlinuz.A init=/usr/lib/systemd/systemd boot=local rootwait ro ",
                    73) == 0 &&
            ends_with(st.cmdlines[0].cmdline, "salt=40eb77fb9093cbff56a6f9c2214c4f7554817d079513b7"
                                              "c77de4953d6b8ffc16\""),
        "cos85 cmdline");
  CHECK(st.separators == 0xff && st.separator_error == 0, "cos85 separators");
  rt_evstate_free(&st);
  rt_eventlog_free(&log);
  free(buf);
}

static void test_laptop_arch_windows(void) {
  size_t len;
  rt_eventlog log;
  rt_evstate st;
  uint8_t *buf = read_log(LAPTOP, &len);
  if (buf != NULL && load(buf, len, &log, &st)) {
    decode_all("laptop", &log);
    CHECK(st.n_mismatches == 0 && count(&st, RT_EVCHECK_OK) == 21, "laptop: %zu mismatches",
          st.n_mismatches);
    /* SecureBoot measured as one 0x00 byte. */
    CHECK(st.secure_boot == RT_SECURE_BOOT_OFF && st.secure_boot_event == 7, "laptop: %s",
          rt_secure_boot_name(st.secure_boot));
    CHECK(st.pk.present && hex_prefix(st.pk.sha256, 32, "ed5104c201b1f2eb"), "laptop PK");
    CHECK(st.n_dbx_sha256 == 77 && st.n_authorities == 0 && st.n_cmdlines == 0,
          "laptop: dbx %zu, authorities %zu", st.n_dbx_sha256, st.n_authorities);
    CHECK(st.n_boot_apps == 1 && st.boot_apps[0].event == 28 &&
              ends_with(st.boot_apps[0].path,
                        "/NVMe(0x1,00-25-38-8C-91-B9-6E-FE)/"
                        "HD(2,GPT,406697b0-ce81-4b4f-b0c6-2bce7884b767,0x1000,0x3d0800)/"
                        "\\EFI\\DEBIAN\\GRUBX64.EFI"),
          "laptop boot app: %s", st.n_boot_apps ? st.boot_apps[0].path : "none");
    CHECK(st.separators == 0xff && st.separator_error == 0, "laptop separators");
    rt_evstate_free(&st);
    rt_eventlog_free(&log);
  }
  free(buf);

  buf = read_log(ARCH, &len);
  if (buf != NULL && load(buf, len, &log, &st)) {
    decode_all("arch", &log);
    CHECK(st.n_mismatches == 0 && count(&st, RT_EVCHECK_OK) == 20, "arch: %zu mismatches",
          st.n_mismatches);
    /* Zero-length SecureBoot variable: off. systemd-boot's UTF-16 command
     * line (event 24): 182 units and one byte of NUL logged, hashed with a
     * whole 2-byte NUL. */
    CHECK(st.secure_boot == RT_SECURE_BOOT_OFF && st.secure_boot_event == 3, "arch: %s",
          rt_secure_boot_name(st.secure_boot));
    CHECK(st.checks[24] == RT_EVCHECK_OK && st.n_cmdlines == 1 && st.cmdlines[0].event == 24 &&
              strncmp(st.cmdlines[0].cmdline, "initrd=\\intel-ucode.img initrd=", 31) == 0 &&
              ends_with(st.cmdlines[0].cmdline, " intel_iommu=on iommu=pt l1tf=off"),
          "arch cmdline: %s", st.n_cmdlines ? st.cmdlines[0].cmdline : "none");
    CHECK(st.pk.present && hex_prefix(st.pk.sha256, 32, "44d165947f9ade6a") &&
              st.n_dbx_sha256 == 77 && st.n_authorities == 0,
          "arch PK/dbx");
    CHECK(st.n_boot_apps == 2 &&
              ends_with(st.boot_apps[0].path, "\\EFI\\SYSTEMD\\SYSTEMD-BOOTX64.EFI") &&
              ends_with(st.boot_apps[1].path, "\\vmlinuz-linux-lts"),
          "arch boot apps");
    CHECK(st.separators == 0xff, "arch separators");
    rt_evstate_free(&st);
    rt_eventlog_free(&log);
  }
  free(buf);

  buf = read_log(WINDOWS, &len);
  if (buf != NULL && load(buf, len, &log, &st)) {
    decode_all("windows", &log);
    /* SHA1-only; its EV_EVENT_TAG (SIPA) and EV_COMPACT_HASH data hash to
     * their digests. */
    CHECK(st.n_mismatches == 0 && count(&st, RT_EVCHECK_OK) == 20 &&
              st.checks[11] == RT_EVCHECK_OK && st.checks[10] == RT_EVCHECK_OK,
          "windows: %zu mismatches", st.n_mismatches);
    CHECK(st.secure_boot == RT_SECURE_BOOT_ON && st.secure_boot_event == 1, "windows: %s",
          rt_secure_boot_name(st.secure_boot));
    CHECK(st.n_authorities == 1 && st.authorities[0].event == 7 &&
              st.authorities[0].subject != NULL &&
              strncmp(st.authorities[0].subject, "CN=Microsoft Root Certificate Authority 2010,",
                      45) == 0,
          "windows authority");
    CHECK(st.n_boot_apps == 1 &&
              ends_with(st.boot_apps[0].path, "\\EFI\\Microsoft\\Boot\\bootmgfw.efi"),
          "windows boot app");
    /* PCR 7's separator and Windows' "WBCL" one in PCR 14 (no error). */
    CHECK(st.separators == (UINT32_C(1) << 7 | UINT32_C(1) << 14) && st.separator_error == 0,
          "windows separators %#" PRIx32 " errors %#" PRIx32, st.separators, st.separator_error);
    CHECK(st.n_dbx_sha256 == 77, "windows dbx");
    /* SIPA decoding: event 11's first tag is a trust boundary whose first
     * member is the boot counter. */
    json_t *j = rt_evdecode_json(&log, 11);
    json_t *tags = json_object_get(j, "tagged_events");
    json_t *inner = json_object_get(json_array_get(tags, 0), "events");
    CHECK(json_is_array(tags) &&
              strcmp(json_string_value(json_object_get(json_array_get(tags, 0), "name")),
                     "SIPAEVENT_TRUSTBOUNDARY") == 0 &&
              strcmp(json_string_value(json_object_get(json_array_get(inner, 0), "name")),
                     "SIPAEVENT_BOOTCOUNTER") == 0 &&
              json_integer_value(json_object_get(json_array_get(inner, 0), "value")) == 4,
          "windows SIPA");
    json_decref(j);
    rt_evstate_free(&st);
    rt_eventlog_free(&log);
  }
  free(buf);
}

/* ---- altered real logs -------------------------------------------------- */

/* Applies edit to a copy of the log at event `index`'s data (offset `at`,
 * `n` bytes from `bytes`); expects that event alone to turn MISMATCH and the
 * PCR replay to stay the same. Returns the state through *out (to be freed)
 * or false. */
static bool altered(const char *rel, uint32_t index, size_t at, const void *bytes, size_t n,
                    rt_evstate *out, rt_eventlog *log_out) {
  size_t len;
  rt_eventlog log;
  rt_evstate st;
  rt_eventlog_pcrs before, after;
  rt_err err;
  uint8_t *buf = read_log(rel, &len);
  bool ok = false;
  if (buf == NULL || !load(buf, len, &log, &st))
    goto out;
  CHECK(rt_eventlog_replay(&log, &before, &err) == RT_OK, "%s", err.msg);
  const rt_eventlog_event *ev = &log.events[index];
  CHECK(at + n <= ev->data_len, "%s event %" PRIu32 ": edit beyond its data", rel, index);
  size_t off = (size_t)(ev->data - log.raw) + at;
  rt_evstate_free(&st);
  rt_eventlog_free(&log);
  if (off + n > len)
    goto out;
  CHECK(memcmp(buf + off, bytes, n) != 0, "%s event %" PRIu32 ": the edit changes nothing", rel,
        index);
  memcpy(buf + off, bytes, n);
  if (!load(buf, len, &log, &st))
    goto out;
  CHECK(rt_eventlog_replay(&log, &after, &err) == RT_OK &&
            memcmp(&before, &after, sizeof before) == 0,
        "%s: the edit changed the replay", rel);
  CHECK(st.checks[index] == RT_EVCHECK_MISMATCH && st.n_mismatches == 1,
        "%s event %" PRIu32 ": %s, %zu mismatches", rel, index, rt_evcheck_name(st.checks[index]),
        st.n_mismatches);
  decode_all(rel, &log);
  *out = st;
  *log_out = log;
  ok = true;
out:
  free(buf);
  return ok;
}

static void test_altered(void) {
  rt_evstate st;
  rt_eventlog log;
  /* rhel8 event 8: PCR 7's separator 00000000 -> 01000000. */
  if (altered(RHEL8, 8, 0, "\1", 1, &st, &log)) {
    CHECK(st.separators == 0x7f && st.secure_boot == RT_SECURE_BOOT_ON, "separator dropped");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* rhel8 event 3: SecureBoot's value 01 -> 00: not "off" but unknown. */
  if (altered(RHEL8, 3, 52, "\0", 1, &st, &log)) {
    CHECK(st.secure_boot == RT_SECURE_BOOT_UNKNOWN, "secure boot %s",
          rt_secure_boot_name(st.secure_boot));
    CHECK(st.pk.present && st.n_authorities == 2, "the rest stays");
    json_t *j = rt_evstate_json(&log, &st);
    CHECK(j != NULL && json_is_null(json_object_get(j, "secure_boot_event")) &&
              json_integer_value(json_array_get(json_object_get(j, "mismatches"), 0)) == 3,
          "state JSON");
    json_decref(j);
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* rhel8 event 78: the kernel command line's "ro" -> "rw". */
  const char *ro = strstr(rhel8_cmdline, " ro ");
  size_t at = strlen("grub_kernel_cmdline ") + (size_t)(ro - rhel8_cmdline) + 2;
  if (altered(RHEL8, 78, at, "w", 1, &st, &log)) {
    CHECK(st.n_cmdlines == 0, "cmdline kept");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* rhel8 event 21: one byte of the Microsoft UEFI CA certificate. */
  if (altered(RHEL8, 21, 200, "\x55", 1, &st, &log)) {
    CHECK(st.n_authorities == 1 && st.authorities[0].event == 27, "authority kept");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* rhel8 event 9: BootOrder, checked against VariableData only there. */
  if (altered(RHEL8, 9, 52, "\7", 1, &st, &log))
    rt_evstate_free(&st), rt_eventlog_free(&log);
  /* rhel8 event 4: PK. */
  if (altered(RHEL8, 4, 100, "\x42", 1, &st, &log)) {
    CHECK(!st.pk.present && st.kek.present, "PK kept");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* cos85 event 24: shim 15's authority, inside the hashed bytes. */
  if (altered(COS85, 24, 300, "\x42", 1, &st, &log)) {
    CHECK(st.n_authorities == 2, "cos85 authorities %zu", st.n_authorities);
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* laptop event 7: SecureBoot 00 -> 01 (an attacker claiming "on"). */
  if (altered(LAPTOP, 7, 52, "\1", 1, &st, &log)) {
    CHECK(st.secure_boot == RT_SECURE_BOOT_UNKNOWN, "laptop secure boot");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* windows event 11: a SIPA value; event 6: the PCR 7 separator. */
  if (altered(WINDOWS, 11, 16, "\5", 1, &st, &log))
    rt_evstate_free(&st), rt_eventlog_free(&log);
  if (altered(WINDOWS, 6, 3, "\1", 1, &st, &log)) {
    CHECK(st.separators == UINT32_C(1) << 14, "windows separators");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  /* cos85 event 42: upstream GRUB's kernel_cmdline. */
  /* systemd-boot's command line: one UTF-16 unit changed. */
  if (altered(ARCH, 24, 10, "X", 1, &st, &log)) {
    CHECK(st.checks[24] == RT_EVCHECK_MISMATCH && st.n_cmdlines == 0,
          "altered sd-boot cmdline still used");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  if (altered(COS85, 42, 20, "X", 1, &st, &log)) {
    CHECK(st.n_cmdlines == 0, "cos85 cmdline kept");
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }

  /* The byte after shim 15's hashed bytes (cos85 event 24, its last) is
   * not covered by the digest, and not used: the event stays OK. */
  size_t len;
  uint8_t *buf = read_log(COS85, &len);
  if (buf != NULL && load(buf, len, &log, &st)) {
    size_t off = (size_t)(log.events[24].data - log.raw) + log.events[24].data_len - 1;
    rt_evstate_free(&st), rt_eventlog_free(&log);
    buf[off] ^= 0xff;
    if (load(buf, len, &log, &st)) {
      CHECK(st.n_mismatches == 0 && st.n_authorities == 3, "cos85 trailing byte");
      rt_evstate_free(&st), rt_eventlog_free(&log);
    }
  }
  free(buf);
}

/* ---- built logs ------------------------------------------------------- */

typedef struct {
  uint8_t b[16384];
  size_t n;
} bld;

static void put(bld *b, const void *p, size_t n) {
  if (n > 0)
    memcpy(b->b + b->n, p, n);
  b->n += n;
}
static void put8(bld *b, uint8_t v) {
  put(b, &v, 1);
}
static void put16(bld *b, uint16_t v) {
  put8(b, (uint8_t)v), put8(b, (uint8_t)(v >> 8));
}
static void put32(bld *b, uint32_t v) {
  put16(b, (uint16_t)v), put16(b, (uint16_t)(v >> 16));
}
static void put64(bld *b, uint64_t v) {
  put32(b, (uint32_t)v), put32(b, (uint32_t)(v >> 32));
}

/* Spec ID event declaring sha1 and sha256. */
static void header(bld *b) {
  put32(b, 0), put32(b, RT_EV_NO_ACTION);
  for (int i = 0; i < 20; i++)
    put8(b, 0);
  put32(b, 16 + 4 + 4 + 4 + 8 + 1);
  put(b, "Spec ID Event03", 16);
  put32(b, 0), put8(b, 0), put8(b, 2), put8(b, 0), put8(b, 2);
  put32(b, 2), put16(b, TPM2_ALG_SHA1), put16(b, 20), put16(b, TPM2_ALG_SHA256), put16(b, 32);
  put8(b, 0);
}

/* An event whose digests are those of hashed[0..hn). */
static void event_h(bld *b, uint32_t pcr, uint32_t type, const void *data, size_t n,
                    const void *hashed, size_t hn) {
  uint8_t md[32];
  unsigned int len;
  put32(b, pcr), put32(b, type), put32(b, 2);
  EVP_Digest(hashed, hn, md, &len, EVP_sha1(), NULL);
  put16(b, TPM2_ALG_SHA1), put(b, md, 20);
  EVP_Digest(hashed, hn, md, &len, EVP_sha256(), NULL);
  put16(b, TPM2_ALG_SHA256), put(b, md, 32);
  put32(b, (uint32_t)n), put(b, data, n);
}

static void event(bld *b, uint32_t pcr, uint32_t type, const void *data, size_t n) {
  event_h(b, pcr, type, data, n, data, n);
}

/* UEFI_VARIABLE_DATA with an ASCII name and, unless overridden, honest
 * lengths. */
static size_t var(uint8_t *out, const uint8_t guid[16], const char *name, const void *data,
                  size_t n, uint64_t name_len, uint64_t data_len) {
  bld *v = calloc(1, sizeof *v);
  put(v, guid, 16), put64(v, name_len), put64(v, data_len);
  for (const char *c = name; *c; c++)
    put16(v, (uint8_t)*c);
  put(v, data, n);
  size_t len = v->n;
  memcpy(out, v->b, len);
  free(v);
  return len;
}

static const uint8_t global[16] = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                   0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
static const uint8_t secdb[16] = {0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
                                  0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f};
static const uint8_t sha256_type[16] = {0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
                                        0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28};

/* Malformed payloads under correct digests: each contributes nothing. */
static void test_malformed_payloads(void) {
  bld *b = calloc(1, sizeof *b);
  uint8_t v[2048], d[512];
  size_t n;
  rt_eventlog log;
  rt_evstate st;

  header(b);
  /* 1: SecureBoot with UnicodeNameLength 2^64-1. */
  n = var(v, global, "SecureBoot", "\1", 1, UINT64_MAX, 1);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);
  /* 2: SecureBoot with VariableDataLength past the end. */
  n = var(v, global, "SecureBoot", "\1", 1, 10, 0x7fffffffffffffffu);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);
  /* 3: a well-formed SecureBoot, but in PCR 0. */
  n = var(v, global, "SecureBoot", "\1", 1, 10, 1);
  event(b, 0, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);
  /* 4: PK of 3 bytes: the variable counts, its (non-)list does not matter. */
  n = var(v, global, "PK", "abc", 3, 2, 3);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);
  /* 5: dbx: a valid SHA-256 list, then one whose SignatureSize is 0: no
   * entry counts, not even the valid list's. */
  bld *l = calloc(1, sizeof *l);
  put(l, sha256_type, 16), put32(l, 28 + 48), put32(l, 0), put32(l, 48);
  for (int i = 0; i < 48; i++)
    put8(l, (uint8_t)i);
  put(l, sha256_type, 16), put32(l, 28 + 48), put32(l, 0), put32(l, 0);
  for (int i = 0; i < 48; i++)
    put8(l, 0);
  n = var(v, secdb, "dbx", l->b, l->n, 3, l->n);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);
  /* 6: authority whose data is 3 bytes: neither a certificate nor an
   * EFI_SIGNATURE_DATA. */
  n = var(v, secdb, "db", "xyz", 3, 2, 3);
  event(b, 7, RT_EV_EFI_VARIABLE_AUTHORITY, v, n);
  /* 7: authority that is a DER SEQUENCE but no certificate: kept, without
   * subject. */
  n = var(v, secdb, "db", "\x30\x03\x02\x01\x05", 5, 2, 5);
  event(b, 7, RT_EV_EFI_VARIABLE_AUTHORITY, v, n);
  /* 8: authority with a truncated structure. */
  event(b, 7, RT_EV_EFI_VARIABLE_AUTHORITY, v, 20);
  /* 9-11: boot applications: LengthOfDevicePath past the end; a node of
   * length 0 (must not loop); a file path node. */
  memset(d, 0, sizeof d);
  d[24] = 0xff, d[31] = 0x7f; /* LengthOfDevicePath huge */
  event(b, 4, RT_EV_EFI_BOOT_SERVICES_APPLICATION, d, 40);
  memset(d, 0, sizeof d);
  d[24] = 8;
  d[32] = 4, d[33] = 4, d[34] = 0, d[35] = 0; /* node length 0 */
  event(b, 4, RT_EV_EFI_BOOT_SERVICES_APPLICATION, d, 40);
  memset(d, 0, sizeof d);
  const char path[] = "\\a.efi";
  size_t node = 4 + 2 * sizeof path;
  d[24] = (uint8_t)(node + 4);
  d[32] = 4, d[33] = 4, d[34] = (uint8_t)node;
  for (size_t i = 0; i < sizeof path; i++)
    d[36 + 2 * i] = (uint8_t)path[i];
  memcpy(d + 32 + node, "\x7f\xff\x04\x00", 4);
  event(b, 4, RT_EV_EFI_BOOT_SERVICES_APPLICATION, d, 32 + node + 4);
  /* 12: GRUB kernel command line with a NUL inside; 13: a good one; 14: the
   * same in PCR 9 (GRUB never measures strings there). */
  event_h(b, 8, RT_EV_IPL, "kernel_cmdline: a\0b\0", 20, "a\0b", 3);
  event_h(b, 8, RT_EV_IPL, "kernel_cmdline: console=ttyS0\0", 30, "console=ttyS0", 13);
  event_h(b, 9, RT_EV_IPL, "kernel_cmdline: other\0", 22, "other", 5);
  /* 15: separator reporting an error in PCR 3; 16: one in PCR 10 (not a
   * state PCR). */
  event(b, 3, RT_EV_SEPARATOR, "\xff\xff\xff\xff", 4);
  event(b, 10, RT_EV_SEPARATOR, "\0\0\0\0", 4);
  /* 17: Windows trailer with a SIPA event whose size runs past its data. */
  event(b, 0xffffffffu, RT_EV_NO_ACTION, "\x02\x00\x02\x00\x08\x00\x00\x00\x04\x00\x00\x00", 12);
  /* 18: a GPT header claiming 2^32 partitions; 19: Boot0001 whose
   * description has no NUL. */
  memset(d, 0, sizeof d);
  memcpy(d, "EFI PART", 8), d[84] = 128, d[96] = 1;
  event(b, 5, RT_EV_EFI_GPT_EVENT, d, 100 + 128);
  n = var(v, global, "Boot0001", "\1\0\0\0\4\0A\0B\0", 10, 8, 10);
  event_h(b, 1, RT_EV_EFI_VARIABLE_BOOT, v, n, "\1\0\0\0\4\0A\0B\0", 10);
  /* 20: finally a good SecureBoot in PCR 7. */
  n = var(v, global, "SecureBoot", "\1", 1, 10, 1);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);

  if (load(b->b, b->n, &log, &st)) {
    CHECK(log.n_events == 21, "%zu events", log.n_events);
    decode_all("built", &log);
    CHECK(st.n_mismatches == 0 && count(&st, RT_EVCHECK_OK) == 15, "built: %zu mismatches, %zu ok",
          st.n_mismatches, count(&st, RT_EVCHECK_OK));
    CHECK(st.secure_boot == RT_SECURE_BOOT_ON && st.secure_boot_event == 20, "built: secure %s %u",
          rt_secure_boot_name(st.secure_boot), st.secure_boot_event);
    CHECK(st.pk.present && st.pk.event == 4 && st.pk.data_len == 3, "built PK");
    CHECK(st.dbx.present && st.dbx.event == 5 && st.n_dbx_sha256 == 0, "built dbx: %zu",
          st.n_dbx_sha256);
    CHECK(st.n_authorities == 1 && st.authorities[0].event == 7 &&
              st.authorities[0].subject == NULL && strcmp(st.authorities[0].variable, "db") == 0,
          "built authorities: %zu", st.n_authorities);
    CHECK(st.n_boot_apps == 3 && st.boot_apps[0].path == NULL && st.boot_apps[1].path == NULL &&
              st.boot_apps[2].path != NULL && strcmp(st.boot_apps[2].path, "\\a.efi") == 0,
          "built boot apps");
    CHECK(st.n_cmdlines == 1 && st.cmdlines[0].event == 13 &&
              strcmp(st.cmdlines[0].cmdline, "console=ttyS0") == 0,
          "built cmdlines: %zu", st.n_cmdlines);
    CHECK(st.separators == UINT32_C(1) << 3 && st.separator_error == UINT32_C(1) << 3,
          "built separators");
    json_t *j = rt_evdecode_json(&log, 17);
    json_t *last = json_array_get(json_object_get(j, "tagged_events"), 0);
    CHECK(json_is_true(json_object_get(last, "malformed")), "SIPA overrun not flagged");
    json_decref(j);
    j = rt_evdecode_json(&log, 5);
    CHECK(json_is_true(json_object_get(j, "malformed")) &&
              json_array_size(json_object_get(j, "signatures")) == 0,
          "dbx list not flagged");
    json_decref(j);
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }

  /* SecureBoot measured twice, on then off: the second is flawed (a
   * variable measured again), so rules reading PCR 7 refuse the log; the
   * state keeps the first. */
  b->n = 0;
  header(b);
  n = var(v, global, "SecureBoot", "\1", 1, 10, 1);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);
  n = var(v, global, "SecureBoot", "\0", 1, 10, 1);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);
  if (load(b->b, b->n, &log, &st)) {
    CHECK(st.flaws[1] == RT_EVFLAW_NONE && st.flaws[2] == RT_EVFLAW_REPEATED &&
              st.secure_boot == RT_SECURE_BOOT_ON && st.secure_boot_event == 1,
          "twice: flaws [%s] [%s], secure boot %s", rt_evflaw_name(st.flaws[1]),
          rt_evflaw_name(st.flaws[2]), rt_secure_boot_name(st.secure_boot));
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  free(l);
  free(b);
}

static void test_names(void) {
  CHECK(strcmp(rt_evcheck_name(RT_EVCHECK_OK), "ok") == 0 &&
            strcmp(rt_evcheck_name(RT_EVCHECK_MISMATCH), "mismatch") == 0 &&
            strcmp(rt_evcheck_name(RT_EVCHECK_UNCHECKED), "unchecked") == 0,
        "check names");
  CHECK(strcmp(rt_secure_boot_name(RT_SECURE_BOOT_ON), "on") == 0 &&
            strcmp(rt_secure_boot_name(RT_SECURE_BOOT_OFF), "off") == 0 &&
            strcmp(rt_secure_boot_name(RT_SECURE_BOOT_UNKNOWN), "unknown") == 0,
        "secure boot names");
  rt_evstate_free(NULL);
}

/* Loads with what a sha256 quote of PCRs 0-8 proves. */
static bool load_proven(const uint8_t *buf, size_t len, rt_eventlog *log, rt_evstate *st) {
  rt_err err = {0};
  rt_evproof proof = {.n = 1};
  proof.banks[0].alg = TPM2_ALG_SHA256;
  proof.banks[0].pcrs = 0x1ff;
  memset(st, 0, sizeof *st);
  if (rt_eventlog_parse(buf, len, NULL, log, &err) != RT_OK) {
    CHECK(0, "parse: %s", err.msg);
    return false;
  }
  if (rt_evstate_derive(log, &proof, st, &err) != RT_OK) {
    CHECK(0, "derive: %s", err.msg);
    rt_eventlog_free(log);
    return false;
  }
  return true;
}

/* Each flaw of rt_evclass.h on one event of a synthetic log, what it leaves
 * out of the state, and the events beside it left unflawed. */
static void test_flaws(void) {
  bld *b = calloc(1, sizeof *b);
  uint8_t v[256];
  size_t n;
  rt_eventlog log;
  rt_evstate st;
  static const uint8_t sep0[4] = {0, 0, 0, 0}, sep1[4] = {1, 0, 0, 0};
  header(b);
  n = var(v, global, "SecureBoot", "\0", 1, 10, 1);
  event(b, 7, RT_EV_POST_CODE, v, n);    /*  1: SecureBoot=0 as EV_POST_CODE */
  event(b, 7, RT_EV_SEPARATOR, sep0, 4); /*  2 */
  n = var(v, global, "SecureBoot", "\1", 1, 10, 1);
  event(b, 7, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, v, n);   /*  3: appended after the separator */
  event(b, 7, RT_EV_SEPARATOR, sep0, 4);                 /*  4: a second separator */
  event(b, 4, RT_EV_EFI_BOOT_SERVICES_DRIVER, "img", 3); /* 5: a driver in PCR 4 */
  event(b, 4, 0x8000beefu, "img", 3);                    /* 6: no such type */
  event_h(b, 0, RT_EV_POST_CODE, "fw", 2, sep1, 4);      /*  7: error separator relabelled */
  event(b, 0, RT_EV_SEPARATOR, sep0, 4);                 /*  8: a good one appended: a second */
  event(b, 4, RT_EV_EFI_ACTION, "\x01\x02", 2);          /*  9: an action that is no text */
  event(b, 8, RT_EV_IPL, "\x01\x02\x03", 3);             /* 10: no loader string */
  event(b, 4, RT_EV_EFI_BOOT_SERVICES_APPLICATION, "img", 3); /* 11: fine */
  event(b, 12, RT_EV_EFI_BOOT_SERVICES_DRIVER, "x", 1);       /* 12: PCR 12: not placed, fine */
  if (load_proven(b->b, b->n, &log, &st)) {
    static const rt_evflaw want[] = {RT_EVFLAW_NONE,
                                     RT_EVFLAW_WRONG_PCR,
                                     RT_EVFLAW_NONE,
                                     RT_EVFLAW_AFTER_SEPARATOR,
                                     RT_EVFLAW_SECOND_SEPARATOR,
                                     RT_EVFLAW_WRONG_PCR,
                                     RT_EVFLAW_UNKNOWN_TYPE,
                                     RT_EVFLAW_DISGUISED_SEPARATOR,
                                     RT_EVFLAW_SECOND_SEPARATOR,
                                     RT_EVFLAW_MALFORMED,
                                     RT_EVFLAW_MALFORMED,
                                     RT_EVFLAW_NONE,
                                     RT_EVFLAW_NONE};
    CHECK(st.n_events == sizeof want / sizeof want[0], "flaws: %zu events", st.n_events);
    for (size_t i = 0; i < st.n_events && i < sizeof want / sizeof want[0]; i++)
      CHECK(st.flaws[i] == want[i], "event %zu: flaw [%s], want [%s]", i,
            rt_evflaw_name(st.flaws[i]), rt_evflaw_name(want[i]));
    CHECK(st.secure_boot == RT_SECURE_BOOT_UNKNOWN, "no SecureBoot before the separator: %s",
          rt_secure_boot_name(st.secure_boot));
    CHECK(st.n_boot_apps == 1 && st.boot_apps[0].event == 11, "boot apps: %zu", st.n_boot_apps);
    CHECK(rt_evstate_first_flaw(&log, &st, 7) == 1 && rt_evstate_first_flaw(&log, &st, 4) == 5 &&
              rt_evstate_first_flaw(&log, &st, 12) == -1,
          "first flaws");
    char text[200];
    CHECK(strcmp(rt_evflaw_text(st.flaws[1], &log.events[1], text, sizeof text),
                 "the TCG PC Client profile does not measure EV_POST_CODE into PCR 7") == 0,
          "text: %s", text);
    rt_evstate_free(&st), rt_eventlog_free(&log);
  }
  free(b);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_evstate DATA_DIR\n");
    return 2;
  }
  data_dir = argv[1];
  test_rhel8();
  test_cos85();
  test_laptop_arch_windows();
  test_altered();
  test_malformed_payloads();
  test_flaws();
  test_names();
  return rt_test_done("evstate");
}
