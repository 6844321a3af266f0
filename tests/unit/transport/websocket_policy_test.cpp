#include "transport/websocket_policy.hpp"

#include <gtest/gtest.h>

namespace sipwarden::transport {
namespace {

const std::vector<std::string> kOwn{"example.com", "sip.example.com", "localhost", "127.0.0.1", "::1"};

TEST(Origin, ParsesSchemeHostAndPort) {
  auto o = parseOrigin("HTTPS://Example.COM:8443");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->scheme, "https");
  EXPECT_EQ(o->host, "example.com");
  EXPECT_EQ(o->port, 8443);
  auto v6 = parseOrigin("http://[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);
  auto bare = parseOrigin("https://example.com");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->port, 0);
}

TEST(Origin, RejectsMalformed) {
  for (const char* bad : {"", "null", "example.com", "https://", "https://:443", "https://host:", "https://host:99999",
                          "https://ho st", "https://[::1", "https://a:b:c", "://host"}) {
    EXPECT_FALSE(parseOrigin(bad)) << bad;
  }
}

TEST(OriginAllowed, DefaultIsTheServersOwnNames) {
  EXPECT_TRUE(originAllowed("https://example.com", {}, kOwn));
  EXPECT_TRUE(originAllowed("https://sip.example.com:8443", {}, kOwn));
  EXPECT_TRUE(originAllowed("http://localhost:8080", {}, kOwn));
  EXPECT_TRUE(originAllowed("https://[::1]:8443", {}, kOwn));
  EXPECT_FALSE(originAllowed("https://evil.example.org", {}, kOwn));
  EXPECT_FALSE(originAllowed("https://example.com.evil.org", {}, kOwn));
  EXPECT_FALSE(originAllowed("https://notexample.com", {}, kOwn));
  EXPECT_FALSE(originAllowed("null", {}, kOwn));
  EXPECT_FALSE(originAllowed("chrome-extension://example.com", {}, kOwn));
  EXPECT_FALSE(originAllowed("garbage", {}, kOwn));
}

TEST(OriginAllowed, NoOriginIsNotABrowserAndPasses) { EXPECT_TRUE(originAllowed("", {}, kOwn)); }

TEST(OriginAllowed, ConfiguredListReplacesTheDefault) {
  const std::vector<std::string> allowed{"https://app.example.net", "phone.example.org"};
  EXPECT_TRUE(originAllowed("https://app.example.net", allowed, kOwn));
  EXPECT_TRUE(originAllowed("https://app.example.net:443", allowed, kOwn));  // the default port
  EXPECT_FALSE(originAllowed("https://app.example.net:8443", allowed, kOwn));
  EXPECT_FALSE(originAllowed("http://app.example.net", allowed, kOwn));
  EXPECT_TRUE(originAllowed("http://phone.example.org:9000", allowed, kOwn));  // a bare host: any scheme and port
  EXPECT_FALSE(originAllowed("https://example.com", allowed, kOwn));
  EXPECT_FALSE(originAllowed("null", allowed, kOwn));
}

TEST(OriginAllowed, StarAndNullEntries) {
  EXPECT_TRUE(originAllowed("https://anything.example", {"*"}, kOwn));
  EXPECT_TRUE(originAllowed("null", {"*"}, kOwn));
  EXPECT_TRUE(originAllowed("null", {"null"}, kOwn));
  EXPECT_FALSE(originAllowed("https://example.com", {"null"}, kOwn));
}

TEST(StaticFilePath, MapsTargetsUnderTheRoot) {
  const std::filesystem::path root = "/srv/web";
  EXPECT_EQ(staticFilePath(root, "/"), root / "index.html");
  EXPECT_EQ(staticFilePath(root, "/index.html?x=1#top"), root / "index.html");
  EXPECT_EQ(staticFilePath(root, "/vendor/jssip.min.js"), root / "vendor" / "jssip.min.js");
  EXPECT_EQ(staticFilePath(root, "/vendor/"), root / "vendor" / "index.html");
  EXPECT_EQ(staticFilePath(root, "/a%20b.txt"), root / "a b.txt");
}

TEST(StaticFilePath, RefusesEscapesAndHiddenFiles) {
  const std::filesystem::path root = "/srv/web";
  for (const char* bad : {"", "index.html", "http://host/index.html", "/../etc/passwd", "/%2e%2e/etc/passwd",
                          "/a/../../etc", "/./index.html", "/.git/config", "//etc/passwd", "/a//b", "/a%00b",
                          "/a%5c..%5cb", "/a\\b", "/%zz", "/%2"}) {
    EXPECT_FALSE(staticFilePath(root, bad)) << bad;
  }
}

TEST(ContentType, ByExtension) {
  EXPECT_EQ(contentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(contentTypeFor("app.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(contentTypeFor("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(contentTypeFor("ring.wav"), "audio/wav");
  EXPECT_EQ(contentTypeFor("blob"), "application/octet-stream");
}

TEST(Utf8, ValidAndInvalid) {
  EXPECT_TRUE(isUtf8("REGISTER sip:example.com SIP/2.0\r\n"));
  EXPECT_TRUE(isUtf8("Grüße 你好 🎉"));
  EXPECT_FALSE(isUtf8(std::string_view("\xff", 1)));
  EXPECT_FALSE(isUtf8(std::string_view("\xc0\xaf", 2)));          // overlong '/'
  EXPECT_FALSE(isUtf8(std::string_view("\xed\xa0\x80", 3)));      // a surrogate
  EXPECT_FALSE(isUtf8(std::string_view("\xf4\x90\x80\x80", 4)));  // above U+10FFFF
  EXPECT_FALSE(isUtf8(std::string_view("\xe4\xbd", 2)));          // cut short
  EXPECT_TRUE(isUtf8(std::string_view("a\0b", 3)));               // NUL is valid UTF-8
}

}  // namespace
}  // namespace sipwarden::transport
