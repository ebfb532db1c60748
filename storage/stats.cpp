#include "storage/stats.hpp"

#include <map>

namespace tlsrpt::storage {

std::optional<double> PolicyStats::success_rate() const {
  const Count total = successful_sessions + failed_sessions;
  if (total == 0) return std::nullopt;
  return static_cast<double>(successful_sessions) / static_cast<double>(total);
}

std::expected<std::vector<PolicyStats>, StoreError> query_stats(Db& db, const StatsFilter& filter) {
  static constexpr const char* kWhere =
      " WHERE (?1 IS NULL OR policy_domain = ?1) AND (?2 IS NULL OR day >= ?2) AND (?3 IS NULL OR day <= ?3) ";
  auto bind_filter = [&](Stmt& st) {
    st.bind(1, filter.domain).bind(2, filter.since).bind(3, filter.until);
  };

  std::vector<PolicyStats> out;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  {
    auto st = db.prepare(std::string(
                             "SELECT policy_domain, policy_type, CAST(TOTAL(successful_sessions) AS INTEGER), "
                             "CAST(TOTAL(failed_sessions) AS INTEGER), SUM(reports), MIN(day), MAX(day) "
                             "FROM policy_daily") +
                         kWhere + "GROUP BY policy_domain, policy_type ORDER BY policy_domain, policy_type");
    if (!st) return std::unexpected(st.error());
    bind_filter(*st);
    for (;;) {
      auto row = st->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      PolicyStats s;
      s.policy_domain = st->text(0);
      s.policy_type = st->text(1);
      s.successful_sessions = static_cast<Count>(st->int64(2));
      s.failed_sessions = static_cast<Count>(st->int64(3));
      s.reports = static_cast<Count>(st->int64(4));
      s.first_day = st->text(5);
      s.last_day = st->text(6);
      index[{s.policy_domain, s.policy_type}] = out.size();
      out.push_back(std::move(s));
    }
  }
  {
    auto st = db.prepare(std::string(
                             "SELECT policy_domain, policy_type, result_type, receiving_mx_hostname, "
                             "CAST(TOTAL(failed_sessions) AS INTEGER) AS n FROM failure_daily") +
                         kWhere +
                         "GROUP BY policy_domain, policy_type, result_type, receiving_mx_hostname "
                         "ORDER BY policy_domain, policy_type, n DESC, result_type, receiving_mx_hostname");
    if (!st) return std::unexpected(st.error());
    bind_filter(*st);
    for (;;) {
      auto row = st->step();
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto it = index.find({st->text(0), st->text(1)});
      if (it == index.end()) continue;
      out[it->second].failures.push_back(
          FailureCount{st->text(2), st->opt_text(3), static_cast<Count>(st->int64(4))});
    }
  }
  return out;
}

}  // namespace tlsrpt::storage
