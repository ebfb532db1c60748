#include "daemon/intake/commit.hpp"

#include "daemon/log.hpp"
#include "daemon/metrics.hpp"
#include "parser/domain.hpp"
#include "parser/text.hpp"

namespace tlsrpt::daemon {

namespace {

// The metrics of one committed outcome.
void count_committed(const storage::PendingReport& p, storage::StoreOutcome outcome) {
  const std::string_view token = storage::to_token(outcome);
  metrics().inc("tlsrptd_reports_total",
                {{"channel", to_token(p.provenance->transport)}, {"outcome", token}, {"reason", token}});
  if (outcome != storage::StoreOutcome::stored) return;
  const auto& policies = p.report->parsed.report.policies;
  const auto& served = p.report->served_domains;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    // Keyed by the served domain (subdomains under theirs), not by the policy domain a
    // sender names: one report of 999 names cannot fill the series cap.
    const std::string domain = i < served.size() ? served[i] : served_domain(policies[i].policy.domain, {});
    if (domain.empty()) continue;  // unattributed: counted for no domain
    metrics().inc("tlsrptd_sessions_total", {{"policy_domain", domain}, {"result", "successful"}},
                  static_cast<double>(policies[i].summary.successful));
    metrics().inc("tlsrptd_sessions_total", {{"policy_domain", domain}, {"result", "failed"}},
                  static_cast<double>(policies[i].summary.failed));
  }
}

}  // namespace

std::vector<Committed> commit_reports(storage::Store& store, std::span<const storage::PendingReport> batch) {
  std::vector<Committed> out;
  if (batch.empty()) return out;
  std::vector<std::int64_t> row_ids;
  auto outcomes = store.store_batch(batch, &row_ids);
  if (outcomes) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      out.push_back({(*outcomes)[i], row_ids[i]});
      count_committed(batch[i], (*outcomes)[i]);
    }
    return out;
  }
  const storage::StoreError err = outcomes.error();
  metrics().inc("tlsrptd_store_errors_total", {{"error", sqlite3_errstr(err.code & 0xff)}});
  if (err.transient() || batch.size() == 1) {
    log_error("store: commit failed: " + escape_line(err.message));
    for (std::size_t i = 0; i < batch.size(); ++i) out.push_back({std::unexpected(err), 0});
    return out;
  }
  log_warning("store: batch of " + std::to_string(batch.size()) + " failed (" + escape_line(err.message) +
              "), retrying one by one");
  for (const auto& p : batch) {
    auto one = commit_reports(store, {&p, 1});
    out.push_back(std::move(one.front()));
  }
  return out;
}

}  // namespace tlsrpt::daemon
