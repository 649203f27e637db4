#include "rt_tls_server_conf.h"

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <string.h>

#include "rt_log.h"

/* By default an OpenSSL 3 server sends two tickets after every TLS 1.3
 * handshake, each a copy of the session serialized, encrypted and MACed
 * with a resumption secret derived for it: about 8% of the verifier's
 * instructions per connection (callgrind, rattest-loadgen --ping). No
 * client resumes: each bootstrap is a new process, and our gRPC clients
 * keep no session cache. Without tickets there is also no ticket key whose
 * theft would open recorded sessions.
 *
 * TLS 1.3 suite: OpenSSL's clients and servers prefer AES-256-GCM with
 * SHA-384, whose key schedule (a dozen HKDF expansions and the transcript
 * hash per handshake) runs SHA-512's compression, where SHA-256 has CPU
 * instructions of its own on most servers: the verifier picks AES-128-GCM
 * with SHA-256 first, by its own order (ServerPreference), about 2% of its
 * instructions per connection (callgrind, rattest-loadgen --ping). Every
 * TLS 1.3 peer implements it (RFC 8446 9.1); it matches the 128-bit
 * strength of the P-256 keys and X25519 shares the handshake uses; the
 * other two suites stay, after it.
 *
 * The settings are the ssl_conf module's system_default section, which
 * SSL_CTX_new applies to every context. Loading a section replaces the
 * process's whole ssl_conf, so it is only installed when the system's
 * OpenSSL configuration (already loaded) has no system_default of its own:
 * an administrator's TLS policy wins over these optimizations. */
static const char conf_text[] =
    "rattest_tls = init\n"
    "[init]\n"
    "ssl_conf = ssl\n"
    "[ssl]\n"
    "system_default = server\n"
    "[server]\n"
    "NumTickets = 0\n"
    "Options = ServerPreference\n"
    "Ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n";

/* 1 when the process's configuration has a system_default section. */
static int has_system_default(void) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  int found = ctx != NULL && SSL_CTX_config(ctx, "system_default") == 1;
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return found;
}

static void install(void) {
  OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
  if (has_system_default()) {
    rt_info("TLS: the OpenSSL configuration has a system_default section: "
            "session tickets and cipher suites left as it says");
    return;
  }
  CONF *conf = NCONF_new(NULL);
  BIO *bio = BIO_new_mem_buf(conf_text, (int)strlen(conf_text));
  long line = 0;
  int ok = conf != NULL && bio != NULL && NCONF_load_bio(conf, bio, &line) > 0 &&
           CONF_modules_load(conf, "rattest_tls", 0) > 0;
  BIO_free(bio);
  NCONF_free(conf);
  SSL_CTX *probe = ok ? SSL_CTX_new(TLS_server_method()) : NULL;
  if (probe == NULL || SSL_CTX_get_num_tickets(probe) != 0)
    rt_warn("TLS: cannot apply the server's TLS settings; each handshake sends two session "
            "tickets");
  SSL_CTX_free(probe);
  ERR_clear_error();
}

void rt_tls_server_conf(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install);
}
