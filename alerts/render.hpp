// An alert as text for people: the mail body and the chat message. Report-derived
// values are escaped onto one line each and cut to a bounded length; the result is
// valid UTF-8 with LF line ends and no other control characters.
#pragma once

#include <string>

#include "alerts/alert.hpp"

namespace tlsrpt::alerts {

// Longest report-derived value shown in a body line.
inline constexpr std::size_t kMaxShownValue = 256;
// Body lines are wrapped at this width; a single word longer than kMaxBodyLine is
// split (RFC 5322 §2.1.1: at most 998 octets per line).
inline constexpr std::size_t kWrapWidth = 72;
inline constexpr std::size_t kMaxBodyLine = 900;

// The plain-text mail body.
std::string render_text(const Alert& a);
// The short chat form (Slack/Mattermost "text"): summary, explanation, key evidence.
std::string render_chat(const Alert& a);
// Word-wraps `text` (one paragraph) at `width`.
std::string wrap(std::string_view text, std::size_t width = kWrapWidth);

}  // namespace tlsrpt::alerts
