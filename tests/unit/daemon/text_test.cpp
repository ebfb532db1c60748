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

TEST(Printable, Truncates) {
  EXPECT_EQ(printable(std::string(10, 'a'), 4), "aaaa...");
}

}  // namespace
}  // namespace tlsrpt::daemon
