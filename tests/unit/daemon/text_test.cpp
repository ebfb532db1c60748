// daemon/text.cpp: attacker-controlled text is shown escaped, never raw.
#include "daemon/text.hpp"

#include <gtest/gtest.h>

namespace tlsrpt::daemon {
namespace {

TEST(Printable, EscapesControlsAndInvalidUtf8) {
  EXPECT_EQ(printable("plain text"), "plain text");
  EXPECT_EQ(printable("a\r\nb"), "a\\r\\nb");
  EXPECT_EQ(printable("\x1b[2Jx"), "\\x1b[2Jx");
  EXPECT_EQ(printable(std::string("n\0l", 3)), "n\\x00l");
  EXPECT_EQ(printable("bad\xff"), "bad\\xff");
  EXPECT_EQ(printable("ok \xc3\xa9 \xe2\x9c\x93"), "ok \xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // encoded surrogate
  EXPECT_EQ(printable("back\\slash"), "back\\\\slash");
}

TEST(Printable, EscapesC1Controls) {
  // U+009B (CSI) acts like ESC [ on terminals that honour 8-bit controls.
  EXPECT_EQ(printable("a\xc2\x9b" "31mb"), "a\\xc2\\x9b31mb");
  EXPECT_EQ(printable("\xc2\x80\xc2\x9f"), "\\xc2\\x80\\xc2\\x9f");
  EXPECT_EQ(printable("nbsp\xc2\xa0ok"), "nbsp\xc2\xa0ok");  // U+00A0 is printable
}

TEST(Printable, Truncates) {
  EXPECT_EQ(printable(std::string(10, 'a'), 4), "aaaa...");
}

}  // namespace
}  // namespace tlsrpt::daemon
