// LD_PRELOAD shim for wrk in bench_https.sh: every new connection does a full TLS
// handshake, as a real sender does when it POSTs its daily report. wrk reuses one SSL
// object per connection slot and reconnects with SSL_clear(), which keeps the last
// session, so without this shim each "new" connection resumes (abbreviated handshake).
// Benchmark client only: never linked into tlsrptd.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
int SSL_set_session(SSL* s, SSL_SESSION* session);

int SSL_clear(SSL* s) {
  static int (*real_clear)(SSL*) = NULL;
  if (!real_clear) real_clear = (int (*)(SSL*))dlsym(RTLD_NEXT, "SSL_clear");
  int r = real_clear(s);
  // SSL_set_session(s, NULL) drops the session SSL_clear kept: the next SSL_connect
  // offers no session id, no ticket and no PSK.
  SSL_set_session(s, NULL);
  return r;
}
