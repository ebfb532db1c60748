// Safe text for terminals and logs: report fields and file names are attacker
// controlled, so control characters (CR, LF, ESC ...) and invalid UTF-8 are shown
// escaped, never emitted raw (CWE-117).
#pragma once

#include <string>
#include <string_view>

namespace tlsrpt::daemon {

// "\n" -> "\\n", ESC -> "\\x1b", a C1 control such as CSI (U+009B) -> "\\xc2\\x9b",
// invalid UTF-8 bytes -> "\\xNN"; at most max_bytes
// of input are shown, followed by "..." when cut.
std::string printable(std::string_view s, std::size_t max_bytes = 4096);

}  // namespace tlsrpt::daemon
