// A small streaming JSON writer for canonical report JSON and the CLI's outputs.
// Escapes every string (control characters as \u00XX), so attacker-controlled
// report text can never break the document. Writes compact JSON into a string.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt {

// Appends `s` as a JSON string literal (with quotes). Invalid UTF-8 bytes are
// written as U+FFFD so the output is always valid JSON. With `escape_invisible`, C1
// controls, the bidirectional formatting characters and U+2028/U+2029
// (is_invisible_format(), parser/text.hpp) are written as \u escapes too: the same JSON value, but nothing a
// terminal or a JavaScript consumer would act on.
void append_json_string(std::string& out, std::string_view s, bool escape_invisible = true);

class JsonWriter {
 public:
  // `escape_invisible` false only for the canonical JSON, whose bytes are the dedupe
  // identity of stored reports and must not change.
  explicit JsonWriter(std::string& out, bool escape_invisible = true) : out_(out), escape_invisible_(escape_invisible) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(std::uint64_t n);
  JsonWriter& value(std::int64_t n);
  JsonWriter& value(int n) { return value(static_cast<std::int64_t>(n)); }
  JsonWriter& value(double d);
  JsonWriter& value(bool b);
  JsonWriter& null();
  // A pre-serialised JSON value, inserted as is (caller guarantees validity).
  JsonWriter& raw(std::string_view json);

  template <class T>
  JsonWriter& member(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

 private:
  void separate();
  std::string& out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
  bool escape_invisible_ = true;
};

}  // namespace tlsrpt
