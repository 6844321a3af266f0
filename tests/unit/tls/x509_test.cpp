// CertificateInfo and the PEM helpers, checked against values computed another way: fingerprints
// hash the DER decoded from the PEM file by hand, the serial is read from the DER by hand.
#include "tls/x509.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>

#include "tls/pki.hpp"
#include "tls_test_support.hpp"

namespace sipwarden::tls {
namespace {

using namespace test;

/// The DER of the first certificate of a PEM file, base64-decoded here (not by OpenSSL's PEM code).
std::vector<unsigned char> derFromPemFile(const std::filesystem::path& file) {
  std::string text = readFile(file);
  std::size_t begin = text.find("-----BEGIN CERTIFICATE-----");
  std::size_t end = text.find("-----END CERTIFICATE-----");
  EXPECT_NE(begin, std::string::npos);
  std::string b64;
  for (char c : text.substr(begin + 27, end - begin - 27)) {
    if (c != '\n' && c != '\r') b64 += c;
  }
  std::vector<unsigned char> der(b64.size());
  int n = EVP_DecodeBlock(der.data(), reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  EXPECT_GT(n, 0);
  std::size_t pad = b64.ends_with("==") ? 2 : b64.ends_with("=") ? 1 : 0;
  der.resize(static_cast<std::size_t>(n) - pad);
  return der;
}

std::string colonHex(const unsigned char* p, std::size_t n) {
  std::string r;
  char buf[4];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, i ? ":%02X" : "%02X", p[i]);
    r += buf;
  }
  return r;
}

std::string digestHex(const std::vector<unsigned char>& der, const EVP_MD* md) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(der.data(), der.size(), out, &len, md, nullptr), 1);
  return colonHex(out, len);
}

/// DER length at p (short or long form); advances p.
std::size_t derLength(const unsigned char*& p) {
  std::size_t len = *p++;
  if (len & 0x80) {
    std::size_t n = len & 0x7f;
    len = 0;
    while (n--) len = (len << 8) | *p++;
  }
  return len;
}

/// tbsCertificate.serialNumber's content octets (RFC 5280 §4.1): Certificate SEQUENCE, TBS
/// SEQUENCE, [0] EXPLICIT version, then the INTEGER.
std::vector<unsigned char> serialFromDer(const std::vector<unsigned char>& der) {
  const unsigned char* p = der.data();
  EXPECT_EQ(*p++, 0x30);
  derLength(p);
  EXPECT_EQ(*p++, 0x30);
  derLength(p);
  EXPECT_EQ(*p++, 0xA0);
  p += derLength(p);
  EXPECT_EQ(*p++, 0x02);
  std::size_t len = derLength(p);
  return {p, p + len};
}

class X509Test : public ::testing::Test {
 protected:
  void SetUp() override {
    PkiInitOptions o;
    o.names = {"SIP.example.com", "example.com", "192.0.2.7", "2001:db8::1"};
    o.outDir = dir.path();
    o.server.days = 90;
    initPki(o, fixedNow());
  }
  TempDir dir;
};

TEST_F(X509Test, FingerprintsAndSerialMatchTheDer) {
  auto der = derFromPemFile(dir / kServerCertificate);
  auto chain = loadCertificateChain(dir / kServerCertificate);
  ASSERT_EQ(chain.size(), 1u);
  CertificateInfo info = certificateInfo(chain.front().get());
  EXPECT_EQ(info.sha256, digestHex(der, EVP_sha256()));
  EXPECT_EQ(info.sha1, digestHex(der, EVP_sha1()));
  EXPECT_EQ(info.sha256.size(), 32u * 3 - 1);
  EXPECT_EQ(info.sha1.size(), 20u * 3 - 1);

  // RFC 5280 §4.1.2.2: positive, at most 20 octets; ours carry 128 random bits.
  auto serial = serialFromDer(der);
  ASSERT_FALSE(serial.empty());
  EXPECT_LT(serial.front(), 0x80) << "negative serial";
  EXPECT_LE(serial.size(), 17u);
  if (serial.size() > 1 && serial.front() == 0) serial.erase(serial.begin());
  std::string hex = colonHex(serial.data(), serial.size());
  std::erase(hex, ':');
  EXPECT_EQ(info.serial, hex);
}

TEST_F(X509Test, NamesValidityAndFlagsOfTheServerCertificate) {
  auto chain = loadCertificateChain(dir / kServerChain);
  ASSERT_EQ(chain.size(), 2u);
  CertificateInfo leaf = certificateInfo(chain[0].get());
  EXPECT_EQ(leaf.subject, "CN=sip.example.com");
  EXPECT_EQ(leaf.commonName, "sip.example.com");
  EXPECT_EQ(leaf.issuer, "CN=sip.example.com Intermediate CA,O=sipwarden");
  EXPECT_EQ(leaf.dnsNames, (std::vector<std::string>{"sip.example.com", "example.com"}));
  EXPECT_EQ(leaf.ipAddresses, (std::vector<std::string>{"192.0.2.7", "2001:db8::1"}));
  EXPECT_TRUE(leaf.uris.empty());
  EXPECT_TRUE(leaf.emails.empty());
  EXPECT_EQ(leaf.notAfter, fixedNow() + Days(90));
  EXPECT_EQ(leaf.notBefore, fixedNow() - 5min);
  EXPECT_FALSE(leaf.isCa);
  EXPECT_FALSE(leaf.selfSigned);
  EXPECT_TRUE(leaf.serverAuth);
  EXPECT_TRUE(leaf.clientAuth);

  CertificateInfo intermediate = certificateInfo(chain[1].get());
  EXPECT_TRUE(intermediate.isCa);
  EXPECT_FALSE(intermediate.selfSigned);
  EXPECT_EQ(intermediate.issuer, "CN=sip.example.com Root CA,O=sipwarden");

  CertificateInfo root = certificateInfo(loadCertificateChain(dir / kRootCaCertificate).front().get());
  EXPECT_TRUE(root.isCa);
  EXPECT_TRUE(root.selfSigned);
  EXPECT_EQ(root.subject, root.issuer);
  // No extendedKeyUsage on the CAs: RFC 5280 §4.2.1.12 reads that as no restriction.
  EXPECT_TRUE(root.serverAuth);
}

TEST_F(X509Test, SameSubjectAndIssuerWithAForeignSignatureIsNotSelfSigned) {
  // A certificate naming itself as issuer but signed by another key: selfSigned needs both.
  auto key = generateEcKey();
  auto other = generateEcKey();
  CertificateProfile p;
  p.commonName = "spoof.example.com";
  p.notBefore = fixedNow();
  p.notAfter = fixedNow() + Days(1);
  X509Ptr real = issueCertificate(p, key.get(), nullptr, nullptr);
  EXPECT_TRUE(certificateInfo(real.get()).selfSigned);
  X509Ptr forged = issueCertificate(p, key.get(), real.get(), other.get());  // issuer name == subject name
  CertificateInfo info = certificateInfo(forged.get());
  EXPECT_EQ(info.subject, info.issuer);
  EXPECT_FALSE(info.selfSigned);
}

TEST_F(X509Test, DescribeGivesTheLogLines) {
  CertificateInfo info = certificateInfo(loadCertificateChain(dir / kServerCertificate).front().get());
  std::vector<std::string> expected{
      "subject: CN=sip.example.com",
      "issuer: CN=sip.example.com Intermediate CA,O=sipwarden",
      "serial: " + info.serial,
      "SHA-1 thumbprint: " + info.sha1,
      "SHA-256 fingerprint: " + info.sha256,
      "not before: 2031-03-15T11:55:00Z",
      "not after: 2031-06-13T12:00:00Z",
  };
  EXPECT_EQ(describe(info), expected);
}

TEST_F(X509Test, KeyInTheSameFileBeforeOrAfterTheCertificate) {
  std::string cert = readFile(dir / kServerChain), key = readFile(dir / kServerKey);
  for (const std::string& combined : {cert + key, key + cert}) {
    ASSERT_TRUE(containsPrivateKey(combined));
    auto chain = parseCertificateChain(combined, "combined.pem");
    EXPECT_EQ(chain.size(), 2u);
    EvpPkeyPtr k = parsePrivateKey(combined, "combined.pem");
    EXPECT_TRUE(keyMatchesCertificate(chain.front().get(), k.get()));
    EXPECT_FALSE(keyMatchesCertificate(chain[1].get(), k.get()));
  }
  EXPECT_FALSE(containsPrivateKey(cert));
  EXPECT_THROW(parsePrivateKey(cert, "cert-only.pem"), CertificateError);
}

TEST_F(X509Test, EncryptedKeysAreRefusedWithAClearMessage) {
  EvpPkeyPtr key = loadPrivateKey(dir / kServerKey);
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                          const_cast<char*>("pass phrase")),
            1);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<std::size_t>(n));
  ASSERT_NE(pem.find("ENCRYPTED PRIVATE KEY"), std::string::npos);
  try {
    parsePrivateKey(pem, "/etc/sipwarden/enc.key");
    FAIL() << "an encrypted key was accepted";
  } catch (const CertificateError& e) {
    EXPECT_NE(std::string(e.what()).find("/etc/sipwarden/enc.key: the private key is encrypted"), std::string::npos)
        << e.what();
  }
}

TEST_F(X509Test, UnreadableAndBrokenFilesNameTheFile) {
  try {
    loadCertificateChain(dir / "missing.crt");
    FAIL();
  } catch (const CertificateError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.crt: cannot read"), std::string::npos) << e.what();
  }
  std::string broken = "-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
  try {
    parseCertificateChain(broken, "broken.crt");
    FAIL();
  } catch (const CertificateError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.crt: certificate 1 of 1 does not parse"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(parseCertificateChain("hello", "text.crt"), CertificateError);
}

TEST_F(X509Test, TimesFrom2050AreGeneralizedTimeAndRoundTrip) {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  SelfSignedOptions o{{"far.example.com"},
                      dir / "far.crt",
                      dir / "far.key",
                      *parseUtc("2049-12-31T23:59:59Z"),
                      *parseUtc("2050-01-01T00:00:00Z")};
  CertificateInfo info = writeSelfSignedCertificate(o);
  EXPECT_EQ(formatUtc(info.notBefore), "2049-12-31T23:59:59Z");
  EXPECT_EQ(formatUtc(info.notAfter), "2050-01-01T00:00:00Z");
  auto cert = loadCertificateChain(o.certificateFile);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notBefore(cert.front().get())), V_ASN1_UTCTIME);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(cert.front().get())), V_ASN1_GENERALIZEDTIME);
}

TEST(CertificateNames, WildcardsCoverExactlyOneLabel) {
  CertificateInfo info;
  info.dnsNames = {"*.example.com", "Sip.Example.ORG"};
  info.commonName = "cn-only.example.net";
  EXPECT_TRUE(certificateMatchesName(info, "a.example.com"));
  EXPECT_TRUE(certificateMatchesName(info, "A.EXAMPLE.com"));
  EXPECT_FALSE(certificateMatchesName(info, "example.com"));
  EXPECT_FALSE(certificateMatchesName(info, "a.b.example.com"));
  EXPECT_FALSE(certificateMatchesName(info, ".example.com"));
  EXPECT_TRUE(certificateMatchesName(info, "sip.example.org"));
  EXPECT_TRUE(certificateMatchesName(info, "sip.example.org."));
  // RFC 6125 §6.4.4: the CN counts only without DNS names.
  EXPECT_FALSE(certificateMatchesName(info, "cn-only.example.net"));
  info.dnsNames.clear();
  EXPECT_TRUE(certificateMatchesName(info, "cn-only.example.net"));

  CertificateInfo tld;
  tld.dnsNames = {"*.com", "a*.example.com"};
  EXPECT_FALSE(certificateMatchesName(tld, "example.com"));
  EXPECT_FALSE(certificateMatchesName(tld, "ab.example.com"));
}

TEST(CertificateNames, AddressesMatchIpEntriesOnly) {
  CertificateInfo info;
  info.dnsNames = {"192.0.2.1"};  // a DNS entry spelling an address does not count
  info.ipAddresses = {"2001:db8:0::1"};
  info.commonName = "192.0.2.1";
  EXPECT_FALSE(certificateMatchesName(info, "192.0.2.1"));
  EXPECT_TRUE(certificateMatchesName(info, "2001:db8::1"));
  EXPECT_TRUE(certificateMatchesName(info, "[2001:DB8::1]"));
  EXPECT_FALSE(certificateMatchesName(info, "2001:db8::2"));
}

TEST(UtcTime, FormatsAndParses) {
  auto t = parseUtc("2031-03-15T12:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*t), 1931342400);
  EXPECT_EQ(formatUtc(*t), "2031-03-15T12:00:00Z");
  EXPECT_EQ(parseUtc("2031-03-15"), *parseUtc("2031-03-15T00:00:00Z"));
  EXPECT_EQ(parseUtc("2031-03-15T12:00:00"), t);
  EXPECT_EQ(formatUtc(*parseUtc("1969-12-31T23:59:59Z")), "1969-12-31T23:59:59Z");
  for (const char* bad : {"", "2031-02-30", "2031-13-01", "2031-03-15T24:00:00Z", "2031-03-15T12:00Z", "31-03-15",
                          "2031-03-15X12:00:00Z", "2031-03-15T12:00:00ZZ"}) {
    EXPECT_FALSE(parseUtc(bad)) << bad;
  }
}

}  // namespace
}  // namespace sipwarden::tls
