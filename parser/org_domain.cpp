// Organizational domains through libpsl. The PSL context is loaded once (a function-
// local static: C++ makes its initialisation thread-safe) and only read afterwards;
// libpsl's lookups on a loaded context do not modify it, so concurrent calls are safe.
#include "parser/org_domain.hpp"

#include <libpsl.h>

#include "parser/text.hpp"

namespace tlsrpt {
namespace {

struct PslHolder {
  psl_ctx_t* ctx = nullptr;
  bool owned = false;  // psl_latest() allocates; psl_builtin() is static data
  PslHolder() {
    ctx = psl_latest(nullptr);  // the newer of the built-in list and psl_dist_filename()
    owned = ctx != nullptr;
    if (!ctx) ctx = const_cast<psl_ctx_t*>(psl_builtin());
  }
  ~PslHolder() {
    if (owned) psl_free(ctx);
  }
  PslHolder(const PslHolder&) = delete;
  PslHolder& operator=(const PslHolder&) = delete;
};

const psl_ctx_t* psl() {
  static const PslHolder holder;
  return holder.ctx;
}

// Lower case, one trailing dot dropped.
std::string normalized(std::string_view domain) {
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  return ascii_lower(domain);
}

}  // namespace

std::string organizational_domain(std::string_view domain) {
  std::string name = normalized(domain);
  // An embedded NUL would make libpsl see another name; such a name has no
  // registrable part.
  if (name.empty() || name.find('\0') != std::string::npos) return name;
  const psl_ctx_t* ctx = psl();
  if (!ctx) return name;
  // RFC 7489 §3.2: the public suffix plus one label. libpsl returns a pointer into
  // `name` (so the result is a suffix of it), or null when `name` is a public suffix
  // or has no registrable part.
  const char* registrable = psl_registrable_domain(ctx, name.c_str());
  if (!registrable) return name;
  return std::string(registrable);
}

bool under_listed_public_suffix(std::string_view domain) {
  std::string name = normalized(domain);
  if (name.empty() || name.find('\0') != std::string::npos) return false;
  const psl_ctx_t* ctx = psl();
  if (!ctx || !psl_registrable_domain(ctx, name.c_str())) return false;
  // The suffix the registrable part hangs from must be a rule of the list itself.
  const char* suffix = psl_unregistrable_domain(ctx, name.c_str());
  return suffix && psl_is_public_suffix2(ctx, suffix, PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
}

bool dkim_aligned_domain(std::string_view signing_domain, std::string_view from_domain) {
  std::string d = normalized(signing_domain);
  std::string from = normalized(from_domain);
  if (d.empty() || from.empty()) return false;
  if (d == from) return true;
  return organizational_domain(d) == organizational_domain(from);
}

}  // namespace tlsrpt
