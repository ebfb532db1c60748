#include "storage/stats.hpp"

#include <map>

namespace tlsrpt::storage {

std::optional<double> PolicyStats::success_rate() const {
  const Count total = successful_sessions + failed_sessions;
  if (total == 0) return std::nullopt;
  return static_cast<double>(successful_sessions) / static_cast<double>(total);
}

namespace {

constexpr const char* kWhere =
    " WHERE (?1 IS NULL OR policy_domain = ?1) AND (?2 IS NULL OR day >= ?2) AND (?3 IS NULL OR day <= ?3) ";
// The same filter on the tables (report r, policy p) rather than the views.
constexpr const char* kTableWhere =
    " WHERE (?1 IS NULL OR p.policy_domain = ?1) AND (?2 IS NULL OR r.day >= ?2) AND (?3 IS NULL OR r.day <= ?3) ";

void bind_filter(Stmt& st, const StatsFilter& filter) { st.bind(1, filter.domain).bind(2, filter.since).bind(3, filter.until); }

using Index = std::map<std::pair<std::string, std::string>, std::size_t>;

// Runs a prepared query (filtered) and hands each row to `row`.
template <class Row>
std::expected<void, StoreError> each_row(std::expected<Stmt, StoreError> st, const StatsFilter& filter, Row row) {
  if (!st) return std::unexpected(st.error());
  bind_filter(*st, filter);
  for (;;) {
    auto more = st->step();
    if (!more) return std::unexpected(more.error());
    if (!*more) return {};
    row(*st);
  }
}

// The unattributed policies (counted reports, policy domain ""): one row per type.
std::expected<void, StoreError> add_unattributed(Db& db, const StatsFilter& filter, std::vector<PolicyStats>& out,
                                                 Index& index) {
  if (filter.domain) return {};
  return each_row(db.prepare(
                      std::string("SELECT '', p.policy_type, CAST(TOTAL(p.successful_sessions) AS INTEGER), "
                              "CAST(TOTAL(p.failed_sessions) AS INTEGER), COUNT(DISTINCT r.id), MIN(r.day), MAX(r.day) "
                              "FROM report r JOIN policy p ON p.report = r.id") +
                      kTableWhere + "AND r.status = 'counted' AND p.policy_domain = '' GROUP BY p.policy_type"),
                  filter, [&](Stmt& st) {
                    PolicyStats s;
                    s.policy_type = st.text(1);
                    s.successful_sessions = static_cast<Count>(st.int64(2));
                    s.failed_sessions = static_cast<Count>(st.int64(3));
                    s.reports = static_cast<Count>(st.int64(4));
                    s.first_day = st.text(5);
                    s.last_day = st.text(6);
                    index[{s.policy_domain, s.policy_type}] = out.size();
                    out.push_back(std::move(s));
                  });
}

// Per reporter, and the conflicts, of every row: read from the tables.
std::expected<void, StoreError> add_reporters(Db& db, const StatsFilter& filter, std::vector<PolicyStats>& out,
                                              const Index& index) {
  auto reporters = each_row(
      db.prepare(
      std::string("SELECT p.policy_domain, p.policy_type, r.organization_name, coalesce(r.signing_domain, ''), "
                  "COUNT(DISTINCT r.id), CAST(TOTAL(p.successful_sessions) AS INTEGER), "
                  "CAST(TOTAL(p.failed_sessions) AS INTEGER) AS n FROM report r JOIN policy p ON p.report = r.id") +
          kTableWhere +
          "AND r.status = 'counted' GROUP BY 1, 2, 3, 4 "
          "ORDER BY 1, 2, CAST(TOTAL(p.successful_sessions) AS INTEGER) + n DESC, 3, 4"),
      filter, [&](Stmt& st) {
        auto it = index.find({st.text(0), st.text(1)});
        if (it == index.end()) return;
        out[it->second].reporters.push_back(ReporterCount{st.text(2), st.text(3), static_cast<Count>(st.int64(4)),
                                                          static_cast<Count>(st.int64(5)),
                                                          static_cast<Count>(st.int64(6))});
      });
  if (!reporters) return reporters;
  return each_row(db.prepare(std::string("SELECT p.policy_domain, p.policy_type, COUNT(DISTINCT r.id) FROM report r "
                                         "JOIN policy p ON p.report = r.id") +
                             kTableWhere + "AND r.status = 'conflict' GROUP BY 1, 2"),
                  filter, [&](Stmt& st) {
                    auto it = index.find({st.text(0), st.text(1)});
                    if (it != index.end()) out[it->second].conflicts = static_cast<Count>(st.int64(2));
                  });
}

}  // namespace

std::expected<std::vector<PolicyStats>, StoreError> query_stats(Db& db, const StatsFilter& filter) {
  auto bind_filter = [&](Stmt& st) { storage::bind_filter(st, filter); };
  std::vector<PolicyStats> out;
  Index index;
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
  if (auto r = add_unattributed(db, filter, out, index); !r) return std::unexpected(r.error());
  if (auto r = add_reporters(db, filter, out, index); !r) return std::unexpected(r.error());
  return out;
}

}  // namespace tlsrpt::storage
