/* Seeds for the policy and state targets: the forms docs/policy.md and
 * docs/state.md document, and what the fuzz verifier itself runs. */
#include <stdio.h>
#include <string.h>

#include "fuzz_seeds.h"

#define H64 "3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969"

static const char *const policies[] = {
    "{}",
    "{\"pcrs\": {\"sha256\": [0, 1, 2, 3, 4, 5, 6, 7]},\n"
    " \"expected\": {\"sha256\": {\"0\": [\"" H64 "\"], \"4\": \"any\"}},\n"
    " \"allow_sha1\": false, \"require_event_log\": true,\n"
    " \"key_algorithms\": [\"ecc-p256\", \"rsa-2048\"], \"ak_algorithms\": [\"ecc-p256\"],\n"
    " \"cert_lifetime\": \"720h\", \"server_auth\": true, \"ek_expiry_advisory\": true,\n"
    " \"subject\": {\"common_name\": \"{name}\", \"organization\": \"Example Corp\",\n"
    "             \"organizational_unit\": \"fleet\"},\n"
    " \"dns_sans\": [\"{name}.hosts.example.com\", \"{ek_sha256}.ek.example\"]}",
    "{\"pcrs\": {\"sha1\": [0], \"sha256\": [0, 1, 7], \"sha384\": [4]},\n"
    " \"events\": {\"no_mismatched_events\": true, \"secure_boot\": true,\n"
    "  \"separators\": [0, 1, 2, 3, 4, 5, 6, 7],\n"
    "  \"boot_apps\": {\"allow\": [\"" H64 "\"], \"forbid\": [\"" H64 "\"]},\n"
    "  \"dbx_required\": [\"" H64 "\"], \"authorities\": [\"" H64 "\"],\n"
    "  \"kernel_cmdline\": \"^/vmlinuz-[^ ]+ root=UUID=[0-9a-f-]+ ro( |$)\"}}",
    "{\"ek_allowlist\": [\"" H64 "\"], \"platform_cert\": \"required\",\n"
    " \"subject\": {\"common_name\": \"{platform_model}-{platform_serial}\",\n"
    "             \"organization\": \"{platform_manufacturer}\"}}",
    "{\"secrets\": [{\"name\": \"db\", \"type\": \"sealed\", \"file\": \"/nonexistent\",\n"
    "              \"pcrs\": {\"sha256\": [0, 7]}},\n"
    "             {\"name\": \"svc\", \"type\": \"rsa-key\", \"key_file\": \"/k\",\n"
    "              \"cert_file\": \"/c\"}]}",
};

static const char *const states[] = {
    "{}",
    "{\"version\": 1, \"identities\": {}, \"secrets\": {}}",
    "{\"identities\": {\"web\": {\"ak_cert_file\": \"/var/lib/rattest/web-ak.crt\",\n"
    "  \"algorithm\": \"ecc-p256\", \"cert_file\": \"/var/lib/rattest/web.crt\",\n"
    "  \"chain_file\": \"/var/lib/rattest/web-chain.pem\", \"ek_sha256\": \"" H64 "\",\n"
    "  \"enrolled_at\": \"2025-03-01T12:00:00Z\", \"handle\": \"0x81000100\",\n"
    "  \"key_file\": \"/var/lib/rattest/web.key\", \"name\": \"web\",\n"
    "  \"not_after\": \"2026-03-01T12:00:00Z\", \"verifier\": \"verifier.example:50051\"}},\n"
    " \"secrets\": {\"db-password\": {\"name\": \"db-password\", \"pcrs\": \"sha256:0,7\",\n"
    "  \"priv_file\": \"/var/lib/rattest/secrets/db.priv\",\n"
    "  \"pub_file\": \"/var/lib/rattest/secrets/db.pub\",\n"
    "  \"received_at\": \"2025-03-01T12:00:01Z\", \"type\": \"sealed\"},\n"
    "  \"svc\": {\"cert_file\": \"/var/lib/rattest/secrets/svc.cert.pem\",\n"
    "  \"handle\": \"0x81000200\", \"name\": \"svc\", \"pcrs\": \"\",\n"
    "  \"priv_file\": \"/var/lib/rattest/secrets/svc.priv\",\n"
    "  \"pub_file\": \"/var/lib/rattest/secrets/svc.pub\",\n"
    "  \"received_at\": \"2025-03-01T12:00:01Z\", \"type\": \"rsa-key\"}},\n"
    " \"version\": 1}",
};

void text_seeds(void) {
  for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "policy%zu", i);
    put("policy", name, -1, policies[i], strlen(policies[i]));
  }
  for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
    char name[16];
    snprintf(name, sizeof name, "state%zu", i);
    put("state", name, -1, states[i], strlen(states[i]));
  }
}
