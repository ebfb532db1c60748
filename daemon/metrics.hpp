// Prometheus metrics: counters, gauges and histograms with labels, rendered in the
// text exposition format (version 0.0.4). Label values from reports are attacker
// controlled, so each family holds at most kMaxSeries label sets; the rest are
// counted under {overflow="true"}. Thread-safe; increments are lock-free once a
// series exists.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlsrpt::daemon {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Metrics {
 public:
  static constexpr std::size_t kMaxSeries = 1000;

  Metrics();

  void inc(std::string_view family, Labels labels = {}, double by = 1);
  void set(std::string_view family, Labels labels, double value);
  void add(std::string_view family, Labels labels, double delta);  // gauges up and down
  void observe(std::string_view family, Labels labels, double value);

  std::string render() const;

 private:
  enum class Kind { counter, gauge, histogram };
  struct Series {
    std::atomic<double> value{0};
    std::vector<std::atomic<std::uint64_t>> buckets;  // histograms: cumulative on render
    std::atomic<std::uint64_t> count{0};
  };
  struct Family {
    std::string name, help;
    Kind kind;
    std::vector<double> bounds;  // histogram upper bounds
    mutable std::mutex mu;
    std::map<std::string, std::unique_ptr<Series>> series;  // key: rendered label set
  };
  void define(std::string name, std::string help, Kind kind, std::vector<double> bounds = {});
  Series& series(std::string_view family, Labels labels);

  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

// The process-wide registry (created on first use).
Metrics& metrics();

}  // namespace tlsrpt::daemon
