// parser/text: UTF-8, ASCII case and whitespace helpers, and attacker-controlled text
// made safe for logs, terminals, prose and headers (CWE-117).
#include "parser/text.hpp"

#include <gtest/gtest.h>

namespace tlsrpt {
namespace {

TEST(EscapeLine, ControlsBecomeVisibleEscapes) {
  EXPECT_EQ(escape_line("a\r\nb\tc\x1b[2J\\"), "a\\r\\nb\\tc\\x1b[2J\\\\");
  EXPECT_EQ(escape_line(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(escape_line("\x7f"), "\\x7f");
  EXPECT_EQ(escape_line("\xC2\x9B" "31m"), "\\xc2\\x9b31m");  // C1 CSI
  EXPECT_EQ(escape_line("caf\xC3\xA9"), "caf\xC3\xA9");           // valid UTF-8 stays
  EXPECT_EQ(escape_line("bad\xFF"), "bad\\xff");
  EXPECT_EQ(escape_line("ok \xc3\xa9 \xe2\x9c\x93"), "ok \xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(escape_line("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // an encoded surrogate
  EXPECT_EQ(escape_line("\xc2\x80\xc2\x9f"), "\\xc2\\x80\\xc2\\x9f");
  EXPECT_EQ(escape_line("nbsp\xc2\xa0ok"), "nbsp\xc2\xa0ok");  // U+00A0 is printable
  EXPECT_EQ(escape_line("say \"hi\""), "say \"hi\"");
}

TEST(QuoteValue, EscapesLikeEscapeLineAndTheQuoteItself) {
  EXPECT_EQ(quote_value("mx1.example.com"), "\"mx1.example.com\"");
  EXPECT_EQ(quote_value("a\"b\n"), "\"a\\\"b\\n\"");
  EXPECT_EQ(quote_value("abcdef", 3), "\"abc\"\xE2\x80\xA6");
  EXPECT_EQ(quote_value(std::string(100, 'x')).size(), 64u + 2 + 3);  // 64 bytes by default
}

TEST(EscapeLine, CutsOnACharacterAndMarksIt) {
  EXPECT_EQ(escape_line("abcdef", 3), "abc\xE2\x80\xA6");
  EXPECT_EQ(escape_line("ab\xC3\xA9", 3), "ab\xE2\x80\xA6");  // é would not fit whole
  EXPECT_EQ(escape_line("abc", 3), "abc");
}

TEST(CutUtf8, NeverSplitsACharacter) {
  EXPECT_EQ(cut_utf8("\xE2\x80\x94\xE2\x80\x94", 4), "\xE2\x80\x94");
  EXPECT_EQ(cut_utf8("abc", 10), "abc");
}

TEST(FlattenLine, EveryControlBecomesASpaceAndBadBytesU_FFFD) {
  EXPECT_EQ(flatten_line("a\r\nBcc: x\0y"), "a  Bcc: x");
  EXPECT_EQ(flatten_line(std::string("a\r\nBcc: x\0y", 11)), "a  Bcc: x y");
  EXPECT_EQ(flatten_line("x\xFFy"), "x\xEF\xBF\xBDy");
}

TEST(Utf8SequenceLength, FollowsRfc3629) {
  EXPECT_EQ(utf8_sequence_length("a", 0), 1u);
  EXPECT_EQ(utf8_sequence_length("\xC3\xA9", 0), 2u);
  EXPECT_EQ(utf8_sequence_length("\xF0\x9F\x98\x80", 0), 4u);
  EXPECT_EQ(utf8_sequence_length("\xC0\xAF", 0), 0u);          // overlong
  EXPECT_EQ(utf8_sequence_length("\xF4\x90\x80\x80", 0), 0u);  // above U+10FFFF
  EXPECT_EQ(utf8_sequence_length("\xE2\x80", 0), 0u);          // truncated
}

TEST(Trim, RemovesTheGivenCharactersAtBothEnds) {
  EXPECT_EQ(trim("  a b\t\r\n"), "a b");
  EXPECT_EQ(trim("\r a \r", kWsp), "\r a \r");
  EXPECT_EQ(trim(" \t", kWsp), "");
  EXPECT_EQ(trim(""), "");
}

TEST(AsciiCase, NeverByLocale) {
  EXPECT_EQ(ascii_lower("MX1.Example.COM"), "mx1.example.com");
  EXPECT_EQ(ascii_upper("ehlo \xC3\xA9"), "EHLO \xC3\xA9");  // non-ASCII bytes untouched
  EXPECT_TRUE(iequals("Mailto", "mAILTO"));
  EXPECT_FALSE(iequals("mailto", "mailt"));
  EXPECT_FALSE(iequals("\xC3\xA9", "\xC3\x89"));  // é is not É here
  EXPECT_TRUE(istarts_with("TLSRPTv1", "tlsrpt"));
  EXPECT_FALSE(istarts_with("tls", "tlsrpt"));
  EXPECT_TRUE(iends_with("report.JSON.gz", ".json.gz"));
  EXPECT_FALSE(iends_with("gz", ".json.gz"));
}

TEST(EscapeLine, BidiControlsAndLineSeparatorsAreEscaped) {
  // CVE-2021-42574 ("Trojan Source"): reordering characters, and separators that
  // break a line for terminals and JavaScript, are shown as their code points.
  EXPECT_EQ(escape_line("a\xE2\x80\xAE" "b"), "a\\u202eb");                     // RLO
  EXPECT_EQ(escape_line("\xE2\x81\xA6x\xE2\x81\xA9"), "\\u2066x\\u2069");        // LRI .. PDI
  EXPECT_EQ(escape_line("\xE2\x80\x8E\xE2\x80\x8F\xD8\x9C"), "\\u200e\\u200f\\u061c");
  EXPECT_EQ(escape_line("l1\xE2\x80\xA8l2\xE2\x80\xA9"), "l1\\u2028l2\\u2029");
  EXPECT_EQ(escape_line("nel\xC2\x85"), "nel\\xc2\\x85");                        // U+0085 is C1
  EXPECT_EQ(escape_line("\xE2\x80\x94 \xE2\x80\x8B"), "\xE2\x80\x94 \xE2\x80\x8B");  // dash, ZWSP kept
  EXPECT_EQ(quote_value("\xE2\x80\xAA"), "\"\\u202a\"");
  EXPECT_EQ(flatten_line("a\xE2\x80\xAE" "b\xE2\x80\xA8" "c"), "a b c");
}

}  // namespace
}  // namespace tlsrpt
