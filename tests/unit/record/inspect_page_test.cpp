// daemon/inspect_page.cpp: every value HTML-escaped, no script or inline style (the
// CSP forbids them), the router's statuses, and the 400 gate in front of DNS.
#include "record/inspect_page.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace tlsrpt::record {
namespace {

std::string header(const SiteReply& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

// Markup the CSP would block, or attributes that run code.
void expect_csp_clean(const std::string& html) {
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<style"), std::string::npos);
  EXPECT_EQ(html.find(" style="), std::string::npos);
  EXPECT_EQ(html.find("javascript:"), std::string::npos);
  EXPECT_FALSE(std::regex_search(html, std::regex(R"(<[^>]*\son[a-z]+\s*=)", std::regex::icase)));
  EXPECT_EQ(html.find("http://"), std::string::npos) << "external asset or link";
}

TEST(HtmlEscape, Characters) {
  EXPECT_EQ(html_escape("<script>alert('x')&\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;");
  EXPECT_EQ(html_escape("bücher"), "bücher");
  EXPECT_EQ(html_escape("a\x1b[2Jb"), "a\xEF\xBF\xBD[2Jb");
  EXPECT_EQ(html_escape("a\xff"), "a\xEF\xBF\xBD");
  EXPECT_EQ(html_escape("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a UTF-16 surrogate
  EXPECT_EQ(html_escape("tab\tand\nline"), "tab\tand\nline");
}

TEST(Query, Parsing) {
  auto q = parse_query("a=1&b=x+y%21&c&d=%zz&&e=%3Cb%3E");
  ASSERT_EQ(q.size(), 5u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"a", "1"}));
  EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"b", "x y!"}));
  EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"c", ""}));
  EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"d", "%zz"}));
  EXPECT_EQ(q[4], (std::pair<std::string, std::string>{"e", "<b>"}));
  std::string many;
  for (int i = 0; i < 100; ++i) many += "k=v&";
  EXPECT_EQ(parse_query(many).size(), kMaxQueryParams);
  EXPECT_EQ(form_rua_lines(" mailto:a@example.com \r\n\n https://r.example.com/ \n"),
            (std::vector<std::string>{"mailto:a@example.com", "https://r.example.com/"}));
}

InspectResult hostile_result() {
  InspectResult r;
  r.domain = "example.com";
  r.name = "_smtp._tls.example.com";
  r.status = DnsStatus::answer;
  r.txt = {TxtRecord{"<img src=x onerror=alert(1)>", {"<img src=x onerror=alert(1)>"}},
           TxtRecord{"v=TLSRPTv1; rua=mailto:a@x.example.net; x=<script>", {"v=TLSRPTv1; rua=mailto:a@x.example.net; x=<script>"}}};
  std::vector<std::string> joined;
  for (const auto& t : r.txt) joined.push_back(t.joined);
  r.set = check_record_set(joined);
  r.errors = r.set.errors;
  r.warnings = r.set.warnings;
  r.looked_around = true;
  r.mta_sts.name = "_mta-sts.example.com";
  r.mta_sts.status = DnsStatus::answer;
  r.mta_sts.records = {"v=STSv1; id=\"><script>alert(2)</script>"};
  judge_mta_sts(r.mta_sts);
  r.mx_status = DnsStatus::answer;
  r.mx = {MxLook{10, "mx.example.com", "_25._tcp.mx.example.com", DnsStatus::answer, "", {"3 1 1 <b>AB</b>"}}};
  judge_rollout(r);
  return r;
}

TEST(Pages, EveryDnsValueIsEscaped) {
  InspectResult r = hostile_result();
  std::string html = render_inspect_page("\"><script>alert(3)</script>", &r);
  expect_csp_clean(html);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(html.find("value=\"&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;\""), std::string::npos);
  EXPECT_NE(html.find("3 1 1 &lt;b&gt;AB&lt;/b&gt;"), std::string::npos);
}

TEST(Pages, GeneratePageEscapesFormAndResult) {
  GenerateForm f{"<i>example.com", "mailto:a@example.com\n<script>", "bind"};
  auto bad = generate_record(f.domain, form_rua_lines(f.rua));
  ASSERT_FALSE(bad);
  std::string html = render_generate_page(f, &bad);
  expect_csp_clean(html);
  EXPECT_EQ(html.find("<i>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);

  GenerateForm ok{"example.com", "mailto:tlsrpt@example.com", "bind"};
  auto good = generate_record(ok.domain, form_rua_lines(ok.rua));
  ASSERT_TRUE(good);
  html = render_generate_page(ok, &good);
  expect_csp_clean(html);
  EXPECT_NE(html.find("<code class=\"value\">v=TLSRPTv1; rua=mailto:tlsrpt@example.com</code>"), std::string::npos);
  EXPECT_NE(html.find("_smtp._tls.example.com. 3600 IN TXT &quot;v=TLSRPTv1; rua=mailto:tlsrpt@example.com&quot;"),
            std::string::npos);
  EXPECT_NE(html.find("<option value=\"bind\" selected>"), std::string::npos);
}

TEST(Pages, HomeAndStyle) {
  std::string home = render_home_page();
  expect_csp_clean(home);
  EXPECT_NE(home.find("action=\"/generate\""), std::string::npos);
  EXPECT_NE(home.find("action=\"/inspect\""), std::string::npos);
  EXPECT_NE(home.find("<link rel=\"stylesheet\" href=\"/style.css\">"), std::string::npos);
  EXPECT_NE(home.find("Rollout order"), std::string::npos);
  EXPECT_NE(home.find("Privacy"), std::string::npos);
  std::string css = page_css();
  EXPECT_EQ(css.find("url("), std::string::npos) << "no external or inline resources in CSS";
  EXPECT_EQ(css.find("@import"), std::string::npos);
}

struct Router : ::testing::Test {
  int calls = 0;
  std::string asked;
  InspectResult canned = hostile_result();
  InspectFn fn = [this](const std::string& d) {
    ++calls;
    asked = d;
    InspectResult r = canned;
    r.domain = d;
    return r;
  };
};

TEST_F(Router, StaticPagesAndHeaders) {
  auto r = serve_inspect_site("GET", "/", fn);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(header(r, "Content-Security-Policy"), content_security_policy());
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header(r, "Cache-Control"), "no-store");
  auto css = serve_inspect_site("GET", "/style.css", fn);
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.content_type, "text/css; charset=utf-8");
  EXPECT_EQ(serve_inspect_site("GET", "/inspect", fn).status, 200);
  EXPECT_EQ(serve_inspect_site("GET", "/generate", fn).status, 200);
  EXPECT_EQ(serve_inspect_site("GET", "/nope", fn).status, 404);
  auto post = serve_inspect_site("POST", "/api/v1/inspect?domain=example.com", fn);
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(header(post, "Allow"), "GET, HEAD");
  auto head = serve_inspect_site("HEAD", "/", fn);
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(serve_inspect_site("GET", "/inspect?domain=" + std::string(kMaxQueryBytes, 'a'), fn).status, 414);
  EXPECT_EQ(calls, 0);
}

TEST_F(Router, InvalidNamesGet400WithoutDns) {
  for (const std::string& q : std::vector<std::string>{"1.2.3.4", "%5B%3A%3A1%5D", std::string(254, 'a'), std::string(64, 'a') + ".example", "a..b",
                        "_x", "_x.example.com", "", "%3Cscript%3E"}) {
    auto api = serve_inspect_site("GET", "/api/v1/inspect?domain=" + q, fn);
    EXPECT_EQ(api.status, 400) << q;
    EXPECT_EQ(api.content_type, "application/json");
    EXPECT_EQ(api.body.rfind("{\"error\":", 0), 0u) << api.body;
    auto page = serve_inspect_site("GET", "/inspect?domain=" + q, fn);
    EXPECT_EQ(page.status, 400) << q;
    expect_csp_clean(page.body);
  }
  EXPECT_EQ(serve_inspect_site("GET", "/api/v1/inspect", fn).status, 400);
  EXPECT_EQ(calls, 0) << "DNS was asked about an invalid name";
}

TEST_F(Router, ValidNameIsInspectedOnce) {
  auto r = serve_inspect_site("GET", "/api/v1/inspect?domain=Example.COM.", fn);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(asked, "example.com");
  EXPECT_EQ(r.body.rfind("{\"domain\":\"example.com\"", 0), 0u) << r.body.substr(0, 80);
  auto page = serve_inspect_site("GET", "/inspect?domain=example.com", fn);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(calls, 2);
  expect_csp_clean(page.body);
}

TEST_F(Router, PrivateNamesGet403WithoutDns) {
  for (const std::string q : {"intranet.corp", "host.local", "x.internal", "nas.lan", "router.home.arpa",
                              "printer.home", "1.0.0.127.in-addr.arpa", "secret.onion", "mail.localhost"}) {
    auto api = serve_inspect_site("GET", "/api/v1/inspect?domain=" + q, fn);
    EXPECT_EQ(api.status, 403) << q;
    EXPECT_EQ(api.content_type, "application/json");
    EXPECT_NE(api.body.find("public domain names"), std::string::npos) << api.body;
    auto page = serve_inspect_site("GET", "/inspect?domain=" + q, fn);
    EXPECT_EQ(page.status, 403) << q;
    EXPECT_NE(page.body.find("public suffix list"), std::string::npos);
    expect_csp_clean(page.body);
    EXPECT_TRUE(serve_inspect_site("HEAD", "/api/v1/inspect?domain=" + q, fn).body.empty());
  }
  EXPECT_EQ(calls, 0) << "DNS was asked about a private name";
  // Public names, private-section suffixes included, are inspected.
  for (const std::string q : {"example.com", "mail.example.co.uk", "foo.github.io"})
    EXPECT_EQ(serve_inspect_site("GET", "/api/v1/inspect?domain=" + q, fn).status, 200) << q;
  EXPECT_EQ(calls, 3);
}

TEST_F(Router, AllowPrivateNamesInspectsThem) {
  SiteOptions allow{.allow_private_names = true};
  auto r = serve_inspect_site("GET", "/api/v1/inspect?domain=intranet.corp", fn, allow);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(asked, "intranet.corp");
  EXPECT_EQ(serve_inspect_site("GET", "/api/v1/inspect?domain=a..corp", fn, allow).status, 400);
  EXPECT_EQ(calls, 1);
}

TEST_F(Router, PlanThenFinishIsTheSameAsServing) {
  SitePlan page = plan_inspect_site("GET", "/inspect?domain=Example.COM");
  ASSERT_FALSE(page.reply);
  EXPECT_EQ(page.domain, "example.com");
  EXPECT_EQ(page.input, "Example.COM");
  EXPECT_FALSE(page.api);
  InspectResult r = canned;
  r.domain = page.domain;
  EXPECT_EQ(finish_inspect_site(page, r).body, serve_inspect_site("GET", "/inspect?domain=Example.COM", fn).body);
  SitePlan head = plan_inspect_site("HEAD", "/api/v1/inspect?domain=example.com");
  ASSERT_FALSE(head.reply);
  EXPECT_TRUE(head.api);
  auto done = finish_inspect_site(head, r);
  EXPECT_EQ(done.status, 200);
  EXPECT_TRUE(done.body.empty());
  // Everything else is answered by the plan itself.
  for (const char* t : {"/", "/style.css", "/generate", "/inspect", "/nope", "/api/v1/inspect?domain=a..b",
                        "/api/v1/inspect?domain=intranet.corp"})
    EXPECT_TRUE(plan_inspect_site("GET", t).reply) << t;
  EXPECT_TRUE(plan_inspect_site("POST", "/api/v1/inspect?domain=example.com").reply);
}

TEST_F(Router, DnsFailureIs502) {
  canned.status = DnsStatus::timeout;
  auto r = serve_inspect_site("GET", "/api/v1/inspect?domain=example.com", fn);
  EXPECT_EQ(r.status, 502);
  EXPECT_NE(r.body.find("\"status\":\"timeout\""), std::string::npos);
}

TEST_F(Router, GenerateForm) {
  auto r = serve_inspect_site(
      "GET", "/generate?domain=b%C3%BCcher.example&rua=mailto%3Atlsrpt%40example.com%0D%0Ahttp%3A%2F%2Fx.example.net%2F&provider=cloudflare",
      fn);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("http: is not allowed"), std::string::npos);
  auto ok = serve_inspect_site("GET", "/generate?domain=b%C3%BCcher.example&rua=mailto%3Atlsrpt%40example.com&provider=cloudflare", fn);
  EXPECT_NE(ok.body.find("_smtp._tls.xn--bcher-kva.example"), std::string::npos);
  EXPECT_NE(ok.body.find("Cloudflare"), std::string::npos);
  EXPECT_NE(ok.body.find("href=\"/inspect?domain=xn--bcher-kva.example\""), std::string::npos);
  std::string many = "/generate?domain=example.com&rua=";
  for (int i = 0; i < 11; ++i) many += "mailto%3Aa" + std::to_string(i) + "%40example.com%0A";
  EXPECT_NE(serve_inspect_site("GET", many, fn).body.find("at most 10 destinations"), std::string::npos);
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace tlsrpt::record
