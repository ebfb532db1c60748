#include "daemon/net/admin_auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include "parser/text.hpp"

namespace tlsrpt::daemon {
namespace {

constexpr std::size_t kMaxRemembered = 8;
constexpr std::size_t kMaxHeader = 1024;

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') break;
    else return std::nullopt;
    value = (value << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return out;
}

// "Basic dXNlcjpwYXNz" -> ("user", "pass").
std::optional<std::pair<std::string, std::string>> basic_credentials(std::string_view header) {
  header = trim(header, kWsp);
  if (header.size() > kMaxHeader || header.size() < 6 || ascii_lower(header.substr(0, 6)) != "basic ") return std::nullopt;
  auto decoded = base64_decode(trim(header.substr(6), kWsp));
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::pair{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

// crypt_r(password, hash) equals hash, compared in constant time.
bool password_matches(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(password.c_str(), hash.c_str(), data.get());
  if (!out || out[0] == '*') return false;
  const std::string_view got(out);
  return got.size() == hash.size() && CRYPTO_memcmp(got.data(), hash.data(), hash.size()) == 0;
}

std::array<unsigned char, 32> digest_of(std::string_view s) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

}  // namespace

AdminAuth::AdminAuth(Limits limits)
    : limits_(limits),
      all_failures_(RateLimiter::Options{std::max(1u, limits.max_failures_per_minute), std::chrono::milliseconds(60'000), 1}) {}

AdminAuth::~AdminAuth() {
  stopping_ = true;
  pool_.join();
}

AdminAuth::Pending::Pending(Pending&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr)),
      password_(std::move(o.password_)),
      hash_(o.hash_),
      known_(o.known_),
      digest_(o.digest_),
      client_(o.client_) {}

AdminAuth::Pending::~Pending() {
  if (owner_) --owner_->checks_;
}

std::expected<std::shared_ptr<AdminAuth>, std::string> AdminAuth::parse(std::string_view text, std::string_view name,
                                                                        Limits limits) {
  std::shared_ptr<AdminAuth> auth(new AdminAuth(limits));
  std::istringstream in{std::string(text)};
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string_view l = trim(line, kWsp);
    if (l.empty() || l.front() == '#') continue;
    auto where = std::string(name) + ":" + std::to_string(n) + ": ";
    auto colon = l.find(':');
    if (colon == 0 || colon == std::string_view::npos)
      return std::unexpected(where + "expected user:hash");
    std::string hash(l.substr(colon + 1));
    // Only hashes this libcrypt computes, and none of the legacy ones (DES, MD5).
    if (hash.empty() || hash.front() != '$' || crypt_checksalt(hash.c_str()) != CRYPT_SALT_OK)
      return std::unexpected(where + "not a crypt(3) hash this system supports (make one with `mkpasswd -m "
                             "yescrypt` or `openssl passwd -6`)");
    auth->users_.emplace_back(std::string(l.substr(0, colon)), std::move(hash));
  }
  if (auth->users_.empty()) return std::unexpected(std::string(name) + ": no user:hash line");
  return auth;
}

std::expected<std::shared_ptr<AdminAuth>, std::string> AdminAuth::load(const std::string& path, Limits limits) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::unexpected(path + ": cannot read the file");
  std::string text;
  char buf[4096];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(f.gcount()));
    if (text.size() > 1024 * 1024) return std::unexpected(path + ": larger than 1 MiB");
  }
  return parse(text, path, limits);
}

std::variant<AdminAuth::Decision, AdminAuth::Pending> AdminAuth::begin(std::string_view authorization,
                                                                       const ClientKey& client, Clock::time_point now) {
  // A client over its failures is not tried at all, not even against the remembered
  // credentials (else those would answer its guesses): guessing on gains nothing.
  if (auto peek = failures_.peek(client, now); !peek.allowed) return Decision{Verdict::throttled, peek.retry_after};
  if (authorization.empty()) return Decision{Verdict::denied};  // a bare request is no guess
  const auto digest = digest_of(authorization);
  if (remembered(digest)) return Decision{Verdict::ok};
  auto cred = basic_credentials(authorization);
  if (!cred) {
    failures_.check(client, now);  // a failure, but it costs no hash
    return Decision{Verdict::denied};
  }
  // Unknown credentials, when every client together failed too often: no hash.
  if (auto all = all_failures_.peek(ClientKey{}, now); !all.allowed)
    return Decision{Verdict::throttled, all.retry_after, true};
  // More checks than max_checks hashing or waiting: 503 at once, no hash.
  if (stopping_) return Decision{Verdict::busy, std::chrono::seconds(1)};
  if (checks_.fetch_add(1) >= limits_.max_checks) {
    --checks_;
    return Decision{Verdict::busy, std::chrono::seconds(1)};
  }
  auto it = std::find_if(users_.begin(), users_.end(), [&](const auto& u) { return u.first == cred->first; });
  const bool known = it != users_.end();
  // An unknown user costs the same hash computation as a known one.
  return Pending(this, std::move(cred->second), known ? it->second : users_.front().second, known, digest, client);
}

AdminAuth::Decision AdminAuth::run(Pending& p, Clock::time_point now) {
  if (stopping_) return {Verdict::busy, std::chrono::seconds(1)};
  const bool ok = password_matches(p.password_, *p.hash_) && p.known_;
  if (ok) {
    remember(p.digest_);
    return {Verdict::ok};
  }
  failures_.check(p.client_, now);
  all_failures_.check(ClientKey{}, now);
  return {Verdict::denied};
}

AdminAuth::Decision AdminAuth::check(std::string_view authorization, const ClientKey& client, Clock::time_point now) {
  auto begun = begin(authorization, client, now);
  if (auto* d = std::get_if<Decision>(&begun)) return *d;
  return run(std::get<Pending>(begun), now);
}

bool AdminAuth::remembered(const Digest& digest) const {
  std::lock_guard lock(mutex_);
  return std::any_of(good_.begin(), good_.end(),
                     [&](const auto& g) { return CRYPTO_memcmp(g.data(), digest.data(), g.size()) == 0; });
}

void AdminAuth::remember(const Digest& digest) {
  std::lock_guard lock(mutex_);
  if (good_.size() >= kMaxRemembered) good_.erase(good_.begin());
  good_.push_back(digest);
}

}  // namespace tlsrpt::daemon
