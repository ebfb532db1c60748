// parser/well_known_reporters.cpp: the table of well-known reporters, the lookup by
// organization-name, signs_for(), and docs/well-known-reporters.md's copy of the table.
#include "parser/well_known_reporters.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "parser/org_domain.hpp"
#include "parser/text.hpp"
#include "test_support.hpp"

namespace tlsrpt {
namespace {

struct LookupCase {
  std::string_view organization_name;
  std::string_view reporter;  // "" = not a well-known reporter
};

TEST(WellKnownReporters, LookupByOrganizationName) {
  constexpr LookupCase kCases[] = {
      {"Google Inc.", "Google"},
      {"google inc.", "Google"},
      {"GOOGLE INC.", "Google"},
      {"  Google Inc.\t", "Google"},
      {"\r\nGoogle Inc. \n", "Google"},
      {"Microsoft Corporation", "Microsoft"},
      {"microsoft corporation", "Microsoft"},
      {"Mail.ru", "Mail.ru"},
      {"Mail.Ru", "Mail.ru"},
      {"MAIL.RU", "Mail.ru"},
      // The whole name only: no prefix, substring or variant matches.
      {"Google", ""},
      {"Google Inc", ""},
      {"Google Inc. Ltd", ""},
      {"Not Google Inc.", ""},
      {"Google  Inc.", ""},
      {"Google LLC", ""},  // not seen in any real report
      {"Microsoft", ""},
      {"Microsoft Corp.", ""},
      {"mail.ru.example", ""},
      {"corp.mail.ru", ""},
      {"google.com", ""},
      {"socketlabs.com", ""},
      {"", ""},
      {"   ", ""},
      {std::string_view("Google Inc.\0", 12), ""},
  };
  for (const auto& c : kCases) {
    const WellKnownReporter* r = well_known_reporter(c.organization_name);
    if (c.reporter.empty()) {
      EXPECT_EQ(r, nullptr) << quote_value(c.organization_name) << " -> " << (r ? r->name : "");
    } else {
      ASSERT_NE(r, nullptr) << quote_value(c.organization_name);
      EXPECT_EQ(r->name, c.reporter) << quote_value(c.organization_name);
    }
  }
}

struct SignsCase {
  std::string_view organization_name;
  std::string_view signing_domain;
  bool signs;
};

TEST(WellKnownReporters, SignsFor) {
  constexpr SignsCase kCases[] = {
      {"Google Inc.", "google.com", true},
      {"Google Inc.", "Google.COM.", true},
      {"Google Inc.", "mail.google.com", true},
      {"Google Inc.", "evil-google.com", false},
      {"Google Inc.", "google.com.evil.com", false},
      {"Google Inc.", "googlemail.com", false},
      {"Google Inc.", "gmail.com", false},
      {"Google Inc.", "microsoft.com", false},
      {"Google Inc.", "com", false},
      {"Google Inc.", "", false},
      {"Microsoft Corporation", "microsoft.com", true},
      {"Microsoft Corporation", "tlsrpt.microsoft.com", true},
      {"Microsoft Corporation", "google.com", false},
      {"Microsoft Corporation", "microsoft.com.example", false},
      {"Microsoft Corporation", "evilmicrosoft.com", false},
      {"Mail.ru", "corp.mail.ru", true},
      {"Mail.ru", "mail.ru", true},  // same organizational domain as corp.mail.ru
      {"Mail.ru", "x.corp.mail.ru", true},
      {"Mail.ru", "mail.ru.evil.example", false},
      {"Mail.ru", "corp-mail.ru", false},
      {"Mail.ru", "ru", false},
  };
  for (const auto& c : kCases) {
    const WellKnownReporter* r = well_known_reporter(c.organization_name);
    ASSERT_NE(r, nullptr) << c.organization_name;
    EXPECT_EQ(signs_for(*r, c.signing_domain), c.signs) << r->name << " d=" << c.signing_domain;
  }
}

TEST(WellKnownReporters, EveryEntryIsComplete) {
  ASSERT_FALSE(well_known_reporters().empty());
  std::set<std::string> names, org_names;
  for (const auto& r : well_known_reporters()) {
    SCOPED_TRACE(std::string(r.name));
    EXPECT_FALSE(r.name.empty());
    EXPECT_TRUE(names.insert(std::string(r.name)).second) << "duplicate reporter name";
    EXPECT_FALSE(trim(r.source).empty()) << "every entry names its evidence";
    ASSERT_FALSE(r.organization_names.empty());
    ASSERT_FALSE(r.signing_domains.empty());
    for (const auto o : r.organization_names) {
      EXPECT_EQ(trim(o), o) << "organization names are stored trimmed";
      EXPECT_FALSE(o.empty());
      // One organization-name belongs to one reporter, and finds it.
      EXPECT_TRUE(org_names.insert(ascii_lower(o)).second) << "organization name in two entries: " << o;
      EXPECT_EQ(well_known_reporter(o), &r) << o;
    }
    for (const auto d : r.signing_domains) {
      EXPECT_EQ(ascii_lower(d), d) << "signing domains are lower-case A-labels";
      EXPECT_TRUE(d.find('.') != std::string_view::npos && d.back() != '.') << d;
      // A public suffix would let anyone below it sign.
      EXPECT_EQ(organizational_domain(d).find('.') != std::string::npos, true) << d;
      EXPECT_TRUE(signs_for(r, d)) << d;
    }
    // The source is shown in a Markdown table cell.
    EXPECT_EQ(r.source.find('|'), std::string_view::npos);
    EXPECT_EQ(r.source.find('\n'), std::string_view::npos);
  }
}

// A signing domain that is a public suffix is rejected by the check above; make sure
// that check itself works (organizational_domain returns a suffix unchanged).
TEST(WellKnownReporters, PublicSuffixSignerWouldBeCaught) {
  EXPECT_EQ(organizational_domain("co.uk"), "co.uk");
  EXPECT_EQ(organizational_domain("github.io"), "github.io");
}

// docs/well-known-reporters.md: the rows of the table under "| reporter | ..." must be
// exactly well_known_reporters(), in order.
struct DocRow {
  std::string name;
  std::vector<std::string> organization_names;
  std::vector<std::string> signing_domains;
  std::string source;
};

std::vector<std::string> split_cells(std::string_view line) {
  // "| a | b |" -> {"a", "b"}
  std::vector<std::string> cells;
  line = trim(line);
  if (line.size() < 2 || line.front() != '|' || line.back() != '|') return cells;
  line = line.substr(1, line.size() - 2);
  std::size_t start = 0;
  for (;;) {
    const std::size_t bar = line.find('|', start);
    cells.emplace_back(trim(line.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start)));
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return cells;
}

// The `code spans` of a cell, in order.
std::vector<std::string> code_spans(std::string_view cell) {
  std::vector<std::string> out;
  for (std::size_t i = cell.find('`'); i != std::string_view::npos; i = cell.find('`', i)) {
    const std::size_t end = cell.find('`', i + 1);
    if (end == std::string_view::npos) break;
    out.emplace_back(cell.substr(i + 1, end - i - 1));
    i = end + 1;
  }
  return out;
}

std::vector<DocRow> doc_rows(const std::string& doc) {
  std::vector<DocRow> rows;
  std::istringstream in(doc);
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split_cells(line);
    if (!in_table) {
      if (cells == std::vector<std::string>{"reporter", "organization-name", "signing domains", "source"}) {
        in_table = true;
        std::getline(in, line);  // |---|---|---|---|
      }
      continue;
    }
    if (cells.empty()) break;  // the table ends at the first line that is not a row
    EXPECT_EQ(cells.size(), 4u) << line;
    if (cells.size() != 4) continue;
    rows.push_back({cells[0], code_spans(cells[1]), code_spans(cells[2]), cells[3]});
  }
  EXPECT_TRUE(in_table) << "no table header '| reporter | organization-name | signing domains | source |'";
  return rows;
}

TEST(WellKnownReporters, DocTableMatchesTheCode) {
  const auto path = test::source_dir() / "docs" / "well-known-reporters.md";
  const std::string doc = test::read_file(path);
  ASSERT_FALSE(doc.empty()) << path;
  const std::vector<DocRow> rows = doc_rows(doc);
  const auto table = well_known_reporters();
  ASSERT_EQ(rows.size(), table.size()) << "the doc's table and parser/well_known_reporters.cpp differ in length";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const auto& entry = table[i];
    SCOPED_TRACE(std::string(entry.name));
    EXPECT_EQ(row.name, entry.name);
    EXPECT_EQ(row.organization_names, (std::vector<std::string>(entry.organization_names.begin(), entry.organization_names.end())));
    EXPECT_EQ(row.signing_domains, (std::vector<std::string>(entry.signing_domains.begin(), entry.signing_domains.end())));
    EXPECT_EQ(row.source, entry.source);
  }
}

}  // namespace
}  // namespace tlsrpt
