// parser/json_writer.cpp: every string is escaped; the output is always valid JSON.
#include "parser/json_writer.hpp"

#include <gtest/gtest.h>

namespace tlsrpt {
namespace {

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonWriter, EscapesControlCharactersQuotesAndBackslashes) {
  EXPECT_EQ(json_quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quoted("line\r\nBcc: x"), R"("line\r\nBcc: x")");
  EXPECT_EQ(json_quoted(std::string("nul\0x", 5)), R"("nul\u0000x")");
  EXPECT_EQ(json_quoted("\x1b[2J"), R"("\u001b[2J")");
  EXPECT_EQ(json_quoted("\x7f"), R"("\u007f")");
}

TEST(JsonWriter, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_quoted("göpher ✓ 𝄞"), "\"göpher ✓ 𝄞\"");
  EXPECT_EQ(json_quoted("a\xff" "b"), "\"a\xEF\xBF\xBD" "b\"");
  EXPECT_EQ(json_quoted("\xed\xa0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // UTF-8 encoded surrogate
  EXPECT_EQ(json_quoted("\xc3"), "\"\xEF\xBF\xBD\"");                                 // truncated sequence
}

TEST(JsonWriter, Structure) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.member("a", std::uint64_t{1});
  w.key("b").begin_array().value("x").null().value(true).end_array();
  w.key("c").begin_object().end_object();
  w.member("d", std::int64_t{-2});
  w.key("e").raw("[1,2]");
  w.end_object();
  EXPECT_EQ(out, R"({"a":1,"b":["x",null,true],"c":{},"d":-2,"e":[1,2]})");
}

TEST(JsonWriter, NonFiniteDoublesBecomeNull) {
  std::string out;
  JsonWriter w(out);
  w.begin_array().value(0.5).value(1.0 / 0.0).end_array();
  EXPECT_EQ(out, "[0.5,null]");
}

TEST(JsonWriter, EscapesBidiSeparatorsAndC1ExceptInCanonicalMode) {
  std::string out;
  append_json_string(out, "a\xE2\x80\xAE" "b\xE2\x80\xA8" "c\xC2\x9B" "d");
  EXPECT_EQ(out, "\"a\\u202eb\\u2028c\\u009bd\"");
  std::string exact;
  JsonWriter w(exact, false);  // the canonical JSON: bytes as sent
  w.value(std::string_view("a\xE2\x80\xAE" "b"));
  EXPECT_EQ(exact, "\"a\xE2\x80\xAE" "b\"");
}

}  // namespace
}  // namespace tlsrpt
