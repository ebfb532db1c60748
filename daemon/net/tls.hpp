// TLS for the listeners: an OpenSSL server context with TLS 1.2+ only, no
// renegotiation, no compression; loading a certificate and key, or generating a
// self-signed pair on first start when the configured files do not exist.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <expected>
#include <memory>
#include <string>

namespace tlsrpt::daemon {

// Builds a server context from PEM files. Errors name the file and OpenSSL's reason.
std::expected<std::shared_ptr<boost::asio::ssl::context>, std::string> make_server_context(
    const std::string& cert_file, const std::string& key_file);

// Writes a self-signed ECDSA P-256 certificate (CN = host name, SAN localhost,
// 127.0.0.1, ::1, valid 825 days) and its key (mode 0600), creating parent folders.
std::expected<void, std::string> generate_self_signed(const std::string& cert_file, const std::string& key_file,
                                                      const std::string& host_name);

}  // namespace tlsrpt::daemon
