// Certificate selection (the Exchange UM rules) on certificates generated into temporary
// directories: what is skipped and why, the order, SNI per name, and the self-signed fallback.
#include "tls/certificate_store.hpp"

#include <openssl/x509v3.h>

#include <algorithm>

#include "tls/pki.hpp"
#include "tls/x509.hpp"
#include "tls_test_support.hpp"

namespace sipwarden::tls {
namespace {

using namespace test;
namespace fs = std::filesystem;

/// A PKI under `root/label` whose server certificate names `names` with the given validity.
fs::path makePki(const fs::path& root, const std::string& label, std::vector<std::string> names, ValiditySpec v) {
  PkiInitOptions o;
  o.names = std::move(names);
  o.outDir = root / label;
  o.server = v;
  initPki(o, fixedNow());
  return o.outDir;
}

/// Copies a PKI's server chain and key into the certificates directory as NAME.crt / NAME.key.
void install(const fs::path& pki, const fs::path& certDir, const std::string& name) {
  fs::create_directories(certDir);
  fs::copy_file(pki / kServerChain, certDir / (name + ".crt"));
  fs::copy_file(pki / kServerKey, certDir / (name + ".key"));
  fs::permissions(certDir / (name + ".key"), fs::perms::owner_read | fs::perms::owner_write);
}

bool logHas(const Selection& s, LogLine::Level level, const std::string& a, const std::string& b = "") {
  return std::any_of(s.log.begin(), s.log.end(), [&](const LogLine& l) {
    return l.level == level && l.text.find(a) != std::string::npos && l.text.find(b) != std::string::npos;
  });
}

std::string dump(const Selection& s) {
  std::string r;
  for (const LogLine& l : s.log) r += "  [" + std::to_string(static_cast<int>(l.level)) + "] " + l.text + "\n";
  return r;
}

class CertificateStoreTest : public ::testing::Test {
 protected:
  CertificateStoreSettings settings(std::vector<std::string> names = {"sip.example.com"}) {
    CertificateStoreSettings s;
    s.directory = certDir;
    s.dataDir = tmp / "data";
    s.names = std::move(names);
    return s;
  }
  TempDir tmp;
  fs::path certDir = tmp / "certs";
};

TEST_F(CertificateStoreTest, CaIssuedBeatsSelfSignedEvenWhenTheSelfSignedLastsLonger) {
  install(makePki(tmp.path(), "ca", {"sip.example.com"}, {.days = 30}), certDir, "issued");
  writeSelfSignedCertificate({{"sip.example.com"},
                              certDir / "self.crt",
                              certDir / "self.key",
                              fixedNow() - Days(1),
                              fixedNow() + Days(3 * 365)});
  Selection s = selectCertificates(settings(), fixedNow());
  ASSERT_EQ(s.certificates.size(), 1u) << dump(s);
  EXPECT_EQ(s.certificates[0].certificateFile, certDir / "issued.crt");
  EXPECT_FALSE(s.certificates[0].info.selfSigned);
  EXPECT_EQ(s.certificates[0].servesNames, std::vector<std::string>{"sip.example.com"});
  EXPECT_FALSE(s.generated);

  // With the CA-issued one gone, the self-signed one serves.
  fs::remove(certDir / "issued.crt");
  s = selectCertificates(settings(), fixedNow());
  ASSERT_EQ(s.certificates.size(), 1u);
  EXPECT_EQ(s.certificates[0].certificateFile, certDir / "self.crt");
  EXPECT_TRUE(logHas(s, LogLine::Level::Info, "self-signed: peers must be given this certificate")) << dump(s);
}

TEST_F(CertificateStoreTest, LongestRemainingValidityWinsAmongCaIssued) {
  install(makePki(tmp.path(), "short", {"sip.example.com"}, {.days = 100}), certDir, "a-short");
  install(makePki(tmp.path(), "long", {"sip.example.com"}, {.days = 200}), certDir, "b-long");
  install(makePki(tmp.path(), "mid", {"sip.example.com"}, {.days = 150}), certDir, "c-mid");
  Selection s = selectCertificates(settings(), fixedNow());
  ASSERT_EQ(s.certificates.size(), 1u) << dump(s);
  EXPECT_EQ(s.certificates[0].certificateFile, certDir / "b-long.crt");
  EXPECT_EQ(s.certificates[0].keyFile, certDir / "b-long.key");
  EXPECT_EQ(s.certificates[0].info.notAfter, fixedNow() + Days(200));
}

TEST_F(CertificateStoreTest, ExpiredAndNotYetValidAreSkippedWithLogLines) {
  install(makePki(tmp.path(), "expired", {"sip.example.com"}, {.days = -2}), certDir, "expired");
  install(makePki(tmp.path(), "future", {"sip.example.com"},
                  {.notBefore = fixedNow() + Days(5), .notAfter = fixedNow() + Days(900)}),
          certDir, "future");
  install(makePki(tmp.path(), "valid", {"sip.example.com"}, {.days = 60}), certDir, "valid");
  Selection s = selectCertificates(settings(), fixedNow());
  ASSERT_EQ(s.certificates.size(), 1u) << dump(s);
  EXPECT_EQ(s.certificates[0].certificateFile, certDir / "valid.crt");
  EXPECT_TRUE(logHas(s, LogLine::Level::Warn, (certDir / "expired.crt").string(), "expired on 2031-03-13T12:00:00Z"))
      << dump(s);
  EXPECT_TRUE(
      logHas(s, LogLine::Level::Warn, (certDir / "future.crt").string(), "not valid before 2031-03-20T12:00:00Z"))
      << dump(s);
}

TEST_F(CertificateStoreTest, KeyMismatchIsSkippedInTheDirectoryAndAnErrorForTheExplicitPair) {
  fs::path a = makePki(tmp.path(), "a", {"sip.example.com"}, {.days = 300});
  fs::path b = makePki(tmp.path(), "b", {"sip.example.com"}, {.days = 60});
  fs::create_directories(certDir);
  fs::copy_file(a / kServerChain, certDir / "mixed.crt");
  fs::copy_file(b / kServerKey, certDir / "mixed.key");  // the other PKI's key
  install(b, certDir, "good");
  fs::copy_file(a / kServerChain, certDir / "nokey.pem");
  Selection s = selectCertificates(settings(), fixedNow());
  ASSERT_EQ(s.certificates.size(), 1u) << dump(s);
  EXPECT_EQ(s.certificates[0].certificateFile, certDir / "good.crt");
  EXPECT_TRUE(logHas(s, LogLine::Level::Warn, (certDir / "mixed.crt").string(), "does not belong")) << dump(s);
  EXPECT_TRUE(logHas(s, LogLine::Level::Warn, (certDir / "nokey.pem").string(), "no private key")) << dump(s);

  CertificateStoreSettings explicitPair = settings();
  explicitPair.certificateFile = a / kServerChain;
  explicitPair.keyFile = b / kServerKey;
  try {
    selectCertificates(explicitPair, fixedNow());
    FAIL() << "a mismatched explicit pair was accepted";
  } catch (const CertificateError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find((b / kServerKey).string() + ": this private key does not belong to the certificate " +
                     (a / kServerChain).string()),
              std::string::npos)
        << m;
  }
  explicitPair.keyFile = tmp / "missing.key";
  EXPECT_THROW(selectCertificates(explicitPair, fixedNow()), CertificateError);
}

TEST_F(CertificateStoreTest, OneCertificatePerNameBySniWithWildcards) {
  install(makePki(tmp.path(), "a", {"sip.example.com"}, {.days = 100}), certDir, "a");
  install(makePki(tmp.path(), "b", {"*.example.org", "example.org"}, {.days = 200}), certDir, "b");
  Selection s = selectCertificates(
      settings({"sip.example.com", "sip.example.org", "example.org", "deep.sip.example.org"}), fixedNow());
  ASSERT_EQ(s.certificates.size(), 2u) << dump(s);
  // The default is the best certificate for the first served domain (the primary one), even
  // though b lasts longer.
  EXPECT_EQ(s.certificates[0].certificateFile, certDir / "a.crt");
  EXPECT_EQ(s.certificates[0].servesNames, std::vector<std::string>{"sip.example.com"});
  EXPECT_EQ(s.certificates[1].certificateFile, certDir / "b.crt");
  EXPECT_EQ(s.certificates[1].servesNames, (std::vector<std::string>{"sip.example.org", "example.org"}));
  // "*" stands for one label only: deep.sip.example.org is not covered; it gets the default.
  EXPECT_TRUE(logHas(s, LogLine::Level::Warn, "no usable certificate names deep.sip.example.org")) << dump(s);
  EXPECT_TRUE(logHas(s, LogLine::Level::Info, "TLS certificate in use for sip.example.com (default)")) << dump(s);

  // When no certificate names the first domain, the default is the best overall (b: longer).
  s = selectCertificates(settings({"nothing.example.net", "sip.example.com", "example.org"}), fixedNow());
  ASSERT_EQ(s.certificates.size(), 2u) << dump(s);
  EXPECT_EQ(s.certificates[0].certificateFile, certDir / "b.crt");
  EXPECT_EQ(s.certificates[0].servesNames, std::vector<std::string>{"example.org"});

  // The host name (after the served domains) need not be covered: no warning for it.
  CertificateStoreSettings withHost = settings({"sip.example.com", "sip.example.org", "host-1"});
  withHost.domainNames = 2;
  s = selectCertificates(withHost, fixedNow());
  EXPECT_TRUE(logHas(s, LogLine::Level::Info, "no usable certificate names host-1")) << dump(s);
  EXPECT_FALSE(logHas(s, LogLine::Level::Warn, "no usable certificate names")) << dump(s);
}

TEST_F(CertificateStoreTest, ExplicitPairAndDirectoryCompeteAndTheSameCertificateIsListedOnce) {
  fs::path p = makePki(tmp.path(), "pki", {"sip.example.com", "example.com"}, {.days = 400});
  install(makePki(tmp.path(), "short", {"sip.example.com"}, {.days = 20}), certDir, "short");
  install(p, certDir, "copy");  // the explicit pair's certificate again, under another name
  CertificateStoreSettings s = settings({"sip.example.com", "example.com"});
  s.certificateFile = p / kServerChain;
  s.keyFile = p / kServerKey;
  Selection sel = selectCertificates(s, fixedNow());
  ASSERT_EQ(sel.certificates.size(), 1u) << dump(sel);
  EXPECT_EQ(sel.certificates[0].certificateFile, p / kServerChain);
  EXPECT_EQ(sel.certificates[0].servesNames, (std::vector<std::string>{"sip.example.com", "example.com"}));
}

TEST_F(CertificateStoreTest, APkiDirectoryWorksAsTheCertificatesDirectory) {
  // `sipwarden pki init --out DIR` then certificates_dir = DIR: the CA files are not server
  // certificates, server.crt and server-chain.crt hold the same leaf (the chain is preferred).
  fs::path p = makePki(tmp.path(), "pki", {"sip.example.com"}, {.days = 90});
  ClientCertificateOptions client;
  client.name = "alice";
  client.caDir = p;
  issueClientCertificate(client, fixedNow());
  CertificateStoreSettings s = settings();
  s.directory = p;
  Selection sel = selectCertificates(s, fixedNow());
  ASSERT_EQ(sel.certificates.size(), 1u) << dump(sel);
  EXPECT_EQ(sel.certificates[0].certificateFile, p / kServerChain);
  EXPECT_EQ(sel.certificates[0].keyFile, p / kServerKey);
  EXPECT_TRUE(logHas(sel, LogLine::Level::Info, (p / kRootCaCertificate).string(), "a CA certificate")) << dump(sel);
  EXPECT_TRUE(logHas(sel, LogLine::Level::Warn, (p / "alice.crt").string(), "no serverAuth")) << dump(sel);
  EXPECT_FALSE(sel.generated);
}

TEST_F(CertificateStoreTest, CombinedPemFileAndKeyModeWarning) {
  fs::path p = makePki(tmp.path(), "pki", {"sip.example.com"}, {.days = 90});
  fs::create_directories(certDir);
  writeFileAtomically(certDir / "combined.pem", readFile(p / kServerChain) + readFile(p / kServerKey), 0644);
  Selection s = selectCertificates(settings(), fixedNow());
  ASSERT_EQ(s.certificates.size(), 1u) << dump(s);
  EXPECT_EQ(s.certificates[0].keyFile, certDir / "combined.pem");
  EXPECT_TRUE(logHas(s, LogLine::Level::Warn, "readable by other users (mode 0644)")) << dump(s);
}

TEST_F(CertificateStoreTest, InUseLogLinesDescribeTheCertificate) {
  install(makePki(tmp.path(), "pki", {"sip.example.com"}, {.days = 90}), certDir, "server");
  Selection s = selectCertificates(settings(), fixedNow());
  ASSERT_EQ(s.certificates.size(), 1u);
  for (const std::string& line : describe(s.certificates[0].info)) {
    EXPECT_TRUE(logHas(s, LogLine::Level::Info, line)) << line << "\n" << dump(s);
  }
  EXPECT_FALSE(logHas(s, LogLine::Level::Warn, "readable by other users")) << dump(s);
}

TEST_F(CertificateStoreTest, AMissingCertificatesDirectoryIsAnError) {
  CertificateStoreSettings s = settings();
  s.directory = tmp / "nope";
  EXPECT_THROW(selectCertificates(s, fixedNow()), CertificateError);
}

TEST_F(CertificateStoreTest, SelfSignedIsGeneratedReusedAndRegenerated) {
  std::vector<std::string> names{"example.com", "192.0.2.5", "host.local"};
  CertificateStoreSettings s = settings(names);
  s.directory.clear();
  Selection first = selectCertificates(s, fixedNow());
  ASSERT_TRUE(first.generated) << dump(first);
  ASSERT_EQ(first.certificates.size(), 1u);
  const SelectedCertificate& c = first.certificates[0];
  EXPECT_EQ(c.certificateFile, tmp / "data" / "tls" / "self-signed.crt");
  EXPECT_EQ(c.keyFile, tmp / "data" / "tls" / "self-signed.key");
  EXPECT_EQ(fileMode(c.keyFile), 0600u);
  EXPECT_TRUE(c.info.selfSigned);
  EXPECT_FALSE(c.info.isCa);
  EXPECT_TRUE(c.info.serverAuth);
  EXPECT_TRUE(c.info.clientAuth);
  EXPECT_EQ(c.info.commonName, "example.com");
  EXPECT_EQ(c.info.dnsNames, (std::vector<std::string>{"example.com", "host.local"}));
  EXPECT_EQ(c.info.ipAddresses, std::vector<std::string>{"192.0.2.5"});
  EXPECT_EQ(c.info.notAfter, fixedNow() + Days(365));
  EXPECT_EQ(c.servesNames, names);
  EXPECT_TRUE(logHas(first, LogLine::Level::Info, "generated a self-signed certificate", "valid for 1 year"))
      << dump(first);
  auto key = loadPrivateKey(c.keyFile);
  EXPECT_EQ(EVP_PKEY_get_id(key.get()), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(key.get()), 256);

  // A peer that pins it as a trust anchor can verify it for a server and for its names.
  {
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
    X509Ptr cert = std::move(loadCertificateChain(c.certificateFile).front());
    X509_STORE_add_cert(store.get(), cert.get());
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
    X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
    X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, Clock::to_time_t(fixedNow()));
    X509_VERIFY_PARAM_set1_ip_asc(param, "192.0.2.5");
    EXPECT_EQ(X509_verify_cert(ctx.get()), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  }

  // Next start: the same certificate.
  Selection second = selectCertificates(s, fixedNow() + Days(100));
  EXPECT_FALSE(second.generated) << dump(second);
  ASSERT_EQ(second.certificates.size(), 1u);
  EXPECT_EQ(second.certificates[0].info.sha256, c.info.sha256);

  // Expired: replaced, and the log says why.
  Selection third = selectCertificates(s, fixedNow() + Days(366));
  EXPECT_TRUE(third.generated);
  ASSERT_EQ(third.certificates.size(), 1u);
  EXPECT_NE(third.certificates[0].info.sha256, c.info.sha256);
  EXPECT_EQ(third.certificates[0].info.notAfter, fixedNow() + Days(366 + 365));
  EXPECT_TRUE(logHas(third, LogLine::Level::Warn, "replaces the previous one", "expired on")) << dump(third);

  // A new served name: replaced again, naming what was missing.
  s.names.push_back("new.example.com");
  Selection fourth = selectCertificates(s, fixedNow() + Days(367));
  EXPECT_TRUE(fourth.generated);
  EXPECT_TRUE(logHas(fourth, LogLine::Level::Warn, "does not name new.example.com")) << dump(fourth);
  EXPECT_TRUE(certificateMatchesName(fourth.certificates[0].info, "new.example.com"));

  // The host name (not a served domain) changed: the kept certificate still serves.
  CertificateStoreSettings renamedHost = s;
  renamedHost.names = {"example.com", "192.0.2.5", "new.example.com", "another-host"};
  renamedHost.domainNames = 3;
  Selection kept = selectCertificates(renamedHost, fixedNow() + Days(367));
  EXPECT_FALSE(kept.generated) << dump(kept);
  EXPECT_EQ(kept.certificates[0].info.sha256, fourth.certificates[0].info.sha256);

  // A key that no longer matches (a crash between the two writes): replaced.
  writeSelfSignedCertificate({{"other.example"},
                              tmp / "x.crt",
                              s.dataDir / "tls" / "self-signed.key",
                              fixedNow() - Days(1),
                              fixedNow() + Days(10)});
  Selection fifth = selectCertificates(s, fixedNow() + Days(368));
  EXPECT_TRUE(fifth.generated);
  EXPECT_TRUE(logHas(fifth, LogLine::Level::Warn, "does not belong")) << dump(fifth);
}

TEST_F(CertificateStoreTest, NamesThatCannotBeInACertificateAreLeftOutOfTheSelfSignedOne) {
  CertificateStoreSettings s = settings({"example.com", "build_host"});
  s.directory.clear();
  Selection sel = selectCertificates(s, fixedNow());
  ASSERT_TRUE(sel.generated) << dump(sel);
  EXPECT_EQ(sel.certificates[0].info.dnsNames, std::vector<std::string>{"example.com"});
  EXPECT_TRUE(logHas(sel, LogLine::Level::Warn, "\"build_host\" is neither a DNS name nor an IP address")) << dump(sel);
  EXPECT_FALSE(selectCertificates(s, fixedNow() + 1h).generated);  // still reused

  s.names = {"build_host"};
  s.dataDir = tmp / "other-data";
  EXPECT_THROW(selectCertificates(s, fixedNow()), CertificateError);
}

TEST_F(CertificateStoreTest, SelfSignedIsUsedOnlyWhenNothingElseIs) {
  fs::create_directories(certDir);
  CertificateStoreSettings s = settings({"sip.example.com"});
  ASSERT_TRUE(selectCertificates(s, fixedNow()).generated);  // empty certificates directory
  install(makePki(tmp.path(), "pki", {"sip.example.com"}, {.days = 90}), certDir, "issued");
  Selection sel = selectCertificates(s, fixedNow());
  EXPECT_FALSE(sel.generated);
  ASSERT_EQ(sel.certificates.size(), 1u);
  EXPECT_EQ(sel.certificates[0].certificateFile, certDir / "issued.crt");
}

TEST_F(CertificateStoreTest, WithoutGenerationItOnlyReports) {
  fs::create_directories(certDir);
  CertificateStoreSettings s = settings({"sip.example.com"});
  s.generateIfNone = false;
  s.directory.clear();
  Selection sel = selectCertificates(s, fixedNow());
  EXPECT_TRUE(sel.certificates.empty());
  EXPECT_FALSE(sel.generated);
  EXPECT_FALSE(fs::exists(s.dataDir / "tls"));
  EXPECT_TRUE(logHas(sel, LogLine::Level::Info, "the server will generate a self-signed certificate at start"))
      << dump(sel);

  s.directory = certDir;  // empty: configured, but nothing usable in it
  sel = selectCertificates(s, fixedNow());
  EXPECT_TRUE(logHas(sel, LogLine::Level::Warn, "no configured certificate is usable")) << dump(sel);
  install(makePki(tmp.path(), "old", {"sip.example.com"}, {.days = -1}), certDir, "old");
  sel = selectCertificates(s, fixedNow());
  EXPECT_TRUE(sel.certificates.empty());
  EXPECT_TRUE(logHas(sel, LogLine::Level::Warn, "no configured certificate is usable")) << dump(sel);
}

}  // namespace
}  // namespace sipwarden::tls
