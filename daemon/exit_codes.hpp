// Process exit codes (sysexits.h, as Postfix and OpenSMTPD use them).
#pragma once

namespace tlsrpt::daemon {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 64;     // EX_USAGE: bad command line
inline constexpr int kExitDataErr = 65;   // EX_DATAERR: an input was rejected
inline constexpr int kExitNoInput = 66;   // EX_NOINPUT: a file does not exist
inline constexpr int kExitSoftware = 70;  // EX_SOFTWARE: internal error
inline constexpr int kExitIoErr = 74;     // EX_IOERR: database or file I/O failed
inline constexpr int kExitTempFail = 75;  // EX_TEMPFAIL: try again later (DNS, busy database)
inline constexpr int kExitConfig = 78;    // EX_CONFIG: configuration error

}  // namespace tlsrpt::daemon
