#include "daemon/intake/dkim_verifier.hpp"

// dkim.h is C99 and spells bool `_Bool`; C++ has the same type as `bool`.
#define _Bool bool
#include <opendkim/dkim.h>
#undef _Bool

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>

#include "parser/auth_results.hpp"

namespace tlsrpt::daemon {
namespace {

// RFC 1035 §2.3.4: a name longer than this cannot be looked up.
constexpr std::size_t kMaxDnsName = 253;

// What the key callback learned, per verification (libopendkim's user context).
struct LookupContext {
  const TxtLookup* lookup = nullptr;
  std::map<std::string, std::string> temporary;  // key name -> why (a temperror)
  std::map<std::string, std::string> missing;    // key name -> why (a fail)
};

std::string key_name(DKIM_SIGINFO* sig) {
  const auto* d = reinterpret_cast<const char*>(dkim_sig_getdomain(sig));
  const auto* s = reinterpret_cast<const char*>(dkim_sig_getselector(sig));
  if (!d || !s) return {};
  return std::string(s) + "._domainkey." + d;
}

// RFC 8460 §3: the key record "SHOULD contain ... s=tlsrpt". libopendkim accepts
// only keys for "email" or "*", so a key restricted to tlsrpt gets "email" added:
// for a TLS report that is exactly the service the key is meant for.
std::string admit_tlsrpt_service(const std::string& record) {
  auto tags = parse_dkim_tags(record);
  auto s = std::find_if(tags.begin(), tags.end(), [](const auto& kv) { return kv.first == "s"; });
  if (s == tags.end()) return record;
  bool tlsrpt = false, email = false;
  std::string_view services = s->second;
  while (!services.empty()) {
    auto colon = services.find(':');
    std::string_view svc = services.substr(0, colon);
    tlsrpt = tlsrpt || svc == "tlsrpt";
    email = email || svc == "email" || svc == "*";
    services = colon == std::string_view::npos ? std::string_view() : services.substr(colon + 1);
  }
  if (!tlsrpt || email) return record;
  s->second += ":email";
  std::string out;
  for (const auto& [k, v] : tags) out += k + "=" + v + "; ";
  return out;
}

// libopendkim's key lookup hook. It must not throw (a C caller) and must not return
// TRYAGAIN/ERROR: those abort dkim_eom() for every remaining signature, so a
// temporary failure is reported as "no key" here and remembered as temporary.
extern "C" DKIM_CBSTAT key_lookup(DKIM* dkim, DKIM_SIGINFO* sig, u_char* buf, size_t buflen) {
  auto* ctx = static_cast<LookupContext*>(dkim_get_user_context(dkim));
  if (!ctx || !ctx->lookup || !buf || buflen == 0) return DKIM_CBSTAT_NOTFOUND;
  std::string name = key_name(sig);
  if (name.empty() || name.size() > kMaxDnsName) {
    ctx->missing[name] = "not a valid key name";
    return DKIM_CBSTAT_NOTFOUND;
  }
  std::expected<std::vector<std::string>, TxtLookupError> records;
  try {
    records = (*ctx->lookup)(name);
  } catch (...) {
    records = std::unexpected(TxtLookupError{TxtLookupError::Kind::temporary, "the DNS lookup failed"});
  }
  if (!records) {
    auto& into = records.error().kind == TxtLookupError::Kind::temporary ? ctx->temporary : ctx->missing;
    into[name] = records.error().message;
    return DKIM_CBSTAT_NOTFOUND;
  }
  // RFC 6376 §3.6.2.2: with several records the verifier may pick one; prefer a
  // record that says it is a DKIM key.
  const std::string* pick = nullptr;
  for (const auto& r : *records) {
    auto tags = parse_dkim_tags(r);
    bool has_p = std::any_of(tags.begin(), tags.end(), [](const auto& kv) { return kv.first == "p"; });
    if (!has_p) continue;
    if (!pick || (r.starts_with("v=DKIM1") && !pick->starts_with("v=DKIM1"))) pick = &r;
  }
  if (!pick) {
    ctx->missing[name] = "no DKIM key record";
    return DKIM_CBSTAT_NOTFOUND;
  }
  std::string record = admit_tlsrpt_service(*pick);
  if (record.size() + 1 > buflen) {
    ctx->missing[name] = "key record longer than " + std::to_string(buflen - 1) + " bytes";
    return DKIM_CBSTAT_NOTFOUND;
  }
  std::memcpy(buf, record.c_str(), record.size() + 1);
  return DKIM_CBSTAT_CONTINUE;
}

// Installed so that no code path in libopendkim resolves names by itself.
extern "C" int no_dns_query(void*, int, unsigned char*, unsigned char*, size_t, void**) { return DKIM_DNS_ERROR; }

std::string text(const u_char* s) { return s ? reinterpret_cast<const char*>(s) : ""; }

}  // namespace

struct DkimVerifier::Lib {
  DKIM_LIB* lib = nullptr;
  ~Lib() {
    if (lib) dkim_close(lib);
  }
};

std::expected<std::unique_ptr<DkimVerifier>, std::string> DkimVerifier::create(TxtLookup lookup) {
  auto lib = std::make_unique<Lib>();
  lib->lib = dkim_init(nullptr, nullptr);
  if (!lib->lib) return std::unexpected("libopendkim could not be initialised");
  std::uint32_t flags = 0;
  (void)dkim_options(lib->lib, DKIM_OP_GETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags);
  // FIXCRLF: files and Maildir messages end lines with LF; DKIM hashes CRLF.
  // BADSIGHANDLES: keep malformed signatures in the list, to name why they failed.
  flags |= DKIM_LIBFLAGS_FIXCRLF | DKIM_LIBFLAGS_BADSIGHANDLES;
  if (dkim_options(lib->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK)
    return std::unexpected("libopendkim rejected its options");
  if (dkim_set_key_lookup(lib->lib, key_lookup) != DKIM_STAT_OK)
    return std::unexpected("libopendkim rejected the key lookup hook");
  dkim_dns_set_query_start(lib->lib, no_dns_query);
  return std::unique_ptr<DkimVerifier>(new DkimVerifier(std::move(lib), std::move(lookup)));
}

DkimVerifier::DkimVerifier(std::unique_ptr<Lib> lib, TxtLookup lookup) : lib_(std::move(lib)), lookup_(std::move(lookup)) {}
DkimVerifier::~DkimVerifier() = default;

DkimResult DkimVerifier::verify(std::string_view message, const SignerFilter& aligned) const {
  DkimResult out;
  out.verifier = "opendkim";
  if (message.starts_with("From ")) {
    auto eol = message.find('\n');
    message.remove_prefix(eol == std::string_view::npos ? message.size() : eol + 1);
  }
  DKIM_STAT st = DKIM_STAT_OK;
  DKIM* dkim = dkim_verify(lib_->lib, reinterpret_cast<const u_char*>("tlsrpt"), nullptr, &st);
  if (!dkim) {
    out.status = DkimResult::Status::temperror;
    out.reason = std::string("opendkim: ") + dkim_getresultstr(st);
    return out;
  }
  std::unique_ptr<DKIM, decltype(&dkim_free)> guard(dkim, &dkim_free);
  LookupContext ctx;
  ctx.lookup = &lookup_;
  dkim_set_user_context(dkim, &ctx);

  // dkim_chunk() takes u_char* but does not write through it.
  auto* data = reinterpret_cast<u_char*>(const_cast<char*>(message.data()));
  st = dkim_chunk(dkim, data, message.size());
  if (st == DKIM_STAT_OK) st = dkim_chunk(dkim, nullptr, 0);
  if (st == DKIM_STAT_OK) st = dkim_eom(dkim, nullptr);

  DKIM_SIGINFO** sigs = nullptr;
  int nsigs = 0;
  if (st == DKIM_STAT_NOSIG || dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK || nsigs == 0) {
    out.status = DkimResult::Status::none;
    out.reason = st == DKIM_STAT_NOSIG || st == DKIM_STAT_OK ? "no DKIM-Signature" : std::string("opendkim: ") + dkim_geterror(dkim);
    return out;
  }

  std::optional<DkimResult> first_fail, first_temp;
  for (int i = 0; i < nsigs; ++i) {
    DKIM_SIGINFO* sig = sigs[i];
    DkimResult r;
    r.verifier = "opendkim";
    r.domain = text(dkim_sig_getdomain(sig));
    r.selector = text(dkim_sig_getselector(sig));
    const bool passed = (dkim_sig_getflags(sig) & DKIM_SIGFLAG_PASSED) != 0 && dkim_sig_getbh(sig) == DKIM_SIGBH_MATCH;
    const bool uses_l = dkim_sig_gettagvalue(sig, false, reinterpret_cast<u_char*>(const_cast<char*>("l"))) != nullptr;
    const std::string who = "signature d=" + r.domain + " s=" + r.selector;
    const bool is_aligned = !aligned || aligned(r.domain);
    if (passed && !uses_l && is_aligned) {
      r.status = DkimResult::Status::pass;
      return r;
    }
    r.status = DkimResult::Status::fail;
    const std::string name = key_name(sig);
    if (passed && !uses_l) {
      r.reason = unaligned_reason(r.domain);
    } else if (passed) {
      r.reason = who + " uses l= (RFC 8460 §3 forbids a body length limit)";
    } else if (auto t = ctx.temporary.find(name); t != ctx.temporary.end()) {
      r.status = DkimResult::Status::temperror;
      r.reason = who + ": key " + name + " unavailable: " + t->second;
    } else if (auto m = ctx.missing.find(name); m != ctx.missing.end()) {
      r.reason = who + ": key " + name + ": " + m->second;
    } else if (dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) {
      r.reason = who + ": body hash mismatch (the body was changed)";
    } else {
      int err = dkim_sig_geterror(sig);
      const char* why = err != DKIM_SIGERROR_OK && err != DKIM_SIGERROR_UNKNOWN ? dkim_sig_geterrorstr(err) : nullptr;
      r.reason = who + ": " + (why ? why : "signature did not verify");
    }
    auto& slot = r.status == DkimResult::Status::temperror ? first_temp : first_fail;
    if (!slot) slot = std::move(r);
  }
  // A key we could not fetch might have verified: let the sender retry.
  if (first_temp) return *first_temp;
  return *first_fail;
}

}  // namespace tlsrpt::daemon
