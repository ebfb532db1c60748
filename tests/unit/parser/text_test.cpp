// Report text made safe for logs, prose and headers (reliability §2.8, CWE-117).
#include "alerts/text_safety.hpp"

#include <gtest/gtest.h>

namespace tlsrpt::alerts {
namespace {

TEST(EscapeLine, ControlsBecomeVisibleEscapes) {
  EXPECT_EQ(escape_line("a\r\nb\tc\x1b[2J\\"), "a\\r\\nb\\tc\\x1b[2J\\\\");
  EXPECT_EQ(escape_line(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(escape_line("\x7f"), "\\x7f");
  EXPECT_EQ(escape_line("\xC2\x9B" "31m"), "\\xc2\\x9b31m");  // C1 CSI
  EXPECT_EQ(escape_line("caf\xC3\xA9"), "caf\xC3\xA9");           // valid UTF-8 stays
  EXPECT_EQ(escape_line("bad\xFF"), "bad\\xff");
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

}  // namespace
}  // namespace tlsrpt::alerts
