// The libcurl parts the email and webhook sinks share: one global init, an easy
// handle that cleans up, and the options every outbound transfer gets (deadlines, no
// signals, no proxy from the environment, cancellation on shutdown).
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <stop_token>
#include <string>

#include "alerts/sink.hpp"

namespace tlsrpt::alerts {

// curl_global_init once per process. Called by the sinks' constructors, which run
// on the main thread before any worker thread exists.
void curl_global();

class CurlEasy {
 public:
  CurlEasy() : h_(curl_easy_init()) {}
  ~CurlEasy() {
    if (h_) curl_easy_cleanup(h_);
  }
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;
  CURL* get() const { return h_; }
  explicit operator bool() const { return h_ != nullptr; }

 private:
  CURL* h_;
};

class CurlSlist {
 public:
  CurlSlist() = default;
  ~CurlSlist() { curl_slist_free_all(l_); }
  CurlSlist(const CurlSlist&) = delete;
  CurlSlist& operator=(const CurlSlist&) = delete;
  bool append(const std::string& s) {
    curl_slist* n = curl_slist_append(l_, s.c_str());
    if (!n) return false;
    l_ = n;
    return true;
  }
  curl_slist* get() const { return l_; }

 private:
  curl_slist* l_ = nullptr;
};

// Connect deadline is min(timeout, kMaxConnectTimeout); `timeout` bounds the whole
// transfer. `stop` (may be null) aborts the transfer within about a second.
inline constexpr std::chrono::milliseconds kMaxConnectTimeout{10000};
void curl_common(CURL* h, std::chrono::milliseconds timeout, const std::string& ca_file, const std::stop_token* stop,
                 char* errbuf);

// A failed curl_easy_perform as a delivery error; `retryable` for transient causes.
DeliveryError curl_error(CURLcode code, const char* errbuf);

}  // namespace tlsrpt::alerts
