#include "daemon/net/tls.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace tlsrpt::daemon {
namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Mozilla "intermediate" TLS 1.2 suites (TLS 1.3 suites are OpenSSL's defaults).
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

}  // namespace

std::expected<std::shared_ptr<ssl::context>, std::string> make_server_context(const std::string& cert_file,
                                                                              const std::string& key_file) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // OpenSSL 3 refuses client-initiated renegotiation unless told otherwise;
  // SSL_OP_NO_RENEGOTIATION also refuses it in TLS 1.2 from either side.
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle keep-alive connections give their 2 x 16 KiB record buffers back.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  // Replies are a few hundred bytes: 4 KiB records keep OpenSSL's per-connection
  // write buffer at ~5 KiB instead of ~17 KiB (the certificate chain just takes
  // more records).
  SSL_CTX_set_max_send_fragment(c, 4096);
  // No TLS 1.3 session tickets: a sender POSTs a report per policy domain once a day
  // and never resumes, and OpenSSL's two tickets per handshake cost ~9% of the CPU
  // of a new-connection request (bench/README.md). TLS 1.2 is unchanged.
  SSL_CTX_set_num_tickets(c, 0);
  if (SSL_CTX_set_cipher_list(c, kCiphers) != 1) return std::unexpected("cipher list: " + openssl_error());
  if (SSL_CTX_use_certificate_chain_file(c, cert_file.c_str()) != 1)
    return std::unexpected("cannot load certificate " + cert_file + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(c, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return std::unexpected("cannot load private key " + key_file + ": " + openssl_error());
  if (SSL_CTX_check_private_key(c) != 1)
    return std::unexpected("private key " + key_file + " does not match certificate " + cert_file);
  return ctx;
}

std::expected<void, std::string> generate_self_signed(const std::string& cert_file, const std::string& key_file,
                                                      const std::string& host_name) {
  std::error_code ec;
  for (const auto& f : {cert_file, key_file}) {
    auto parent = std::filesystem::path(f).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) return std::unexpected("cannot create " + parent.string() + ": " + ec.message());
  }
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) return std::unexpected("key generation failed: " + openssl_error());
  X509* x = X509_new();
  auto cleanup = [&] {
    X509_free(x);
    EVP_PKEY_free(key);
  };
  X509_set_version(x, 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) {
    cleanup();
    return std::unexpected("no randomness for the serial number");
  }
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 825L * 24 * 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("tlsrptd self-signed"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(host_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (host_name != "localhost") san = "DNS:" + host_name + "," + san;
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, san.c_str()}, std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                            std::pair{NID_ext_key_usage, "serverAuth"}, std::pair{NID_key_usage, "critical,digitalSignature"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext) {
      cleanup();
      return std::unexpected("certificate extension: " + openssl_error());
    }
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x, key, EVP_sha256()) == 0) {
    cleanup();
    return std::unexpected("certificate signing failed: " + openssl_error());
  }

  // The key is written with mode 0600 from the start, never readable by others.
  auto write_pem = [](FILE* f, auto&& writer) {
    if (!f) return false;
    bool ok = writer(f) && std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    return std::fclose(f) == 0 && ok;
  };
  int kfd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = kfd >= 0 && write_pem(fdopen(kfd, "w"), [&](FILE* f) {
              return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
            });
  ok = ok && write_pem(std::fopen(cert_file.c_str(), "w"), [&](FILE* f) { return PEM_write_X509(f, x) == 1; });
  cleanup();
  if (!ok) return std::unexpected("cannot write " + cert_file + " / " + key_file);
  return {};
}

}  // namespace tlsrpt::daemon
