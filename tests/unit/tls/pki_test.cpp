// The PKI helper, judged by OpenSSL's own path validation (X509_verify_cert with purposes, host
// names and CRLs) and by reading the extensions back.
#include "tls/pki.hpp"

#include <openssl/x509v3.h>

#include "tls/x509.hpp"
#include "tls_test_support.hpp"

namespace sipwarden::tls {
namespace {

using namespace test;
namespace fs = std::filesystem;

X509Ptr loadLeaf(const fs::path& file) { return std::move(loadCertificateChain(file).front()); }

struct VerifyOptions {
  int purpose = X509_PURPOSE_SSL_SERVER;
  std::string host{};
  fs::path crl{};
  Clock::time_point at = fixedNow();
};

/// X509_verify_cert of `leaf` against the root as the only trust anchor, the intermediate as an
/// untrusted helper; X509_V_OK or the error.
int verify(const fs::path& dir, const fs::path& leaf, const VerifyOptions& o = {}) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  X509Ptr root = loadLeaf(dir / kRootCaCertificate);
  EXPECT_EQ(X509_STORE_add_cert(store.get(), root.get()), 1);
  if (!o.crl.empty()) {
    X509CrlPtr crl = loadCrl(o.crl);
    EXPECT_EQ(X509_STORE_add_crl(store.get(), crl.get()), 1);
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  X509StackPtr untrusted(sk_X509_new_null());
  sk_X509_push(untrusted.get(), loadLeaf(dir / kIntermediateCaCertificate).release());
  X509Ptr cert = loadLeaf(leaf);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), untrusted.get()), 1);
  EXPECT_EQ(X509_STORE_CTX_set_purpose(ctx.get(), o.purpose), 1);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, Clock::to_time_t(o.at));
  if (!o.host.empty()) X509_VERIFY_PARAM_set1_host(param, o.host.c_str(), o.host.size());
  int ok = X509_verify_cert(ctx.get());
  int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
  takeOpenSslErrors();
  return err;
}

bool critical(X509* x, int nid) {
  int i = X509_get_ext_by_NID(x, nid, -1);
  EXPECT_GE(i, 0) << OBJ_nid2sn(nid);
  return i >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, i)) == 1;
}

long crlNumber(const fs::path& file) {
  X509CrlPtr crl = loadCrl(file);
  std::unique_ptr<ASN1_INTEGER, decltype(&ASN1_INTEGER_free)> n(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)), ASN1_INTEGER_free);
  return n ? ASN1_INTEGER_get(n.get()) : -1;
}

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PkiInitOptions o;
    o.names = {"sip.example.com", "example.com"};
    o.outDir = dir.path();
    issued = initPki(o, fixedNow());
  }
  TempDir dir;
  IssuedFiles issued;
};

TEST_F(PkiTest, InitWritesTheLayoutWithPrivateKeys) {
  for (const char* f : {kRootCaKey, kIntermediateCaKey, kServerKey}) EXPECT_EQ(fileMode(dir / f), 0600u) << f;
  for (const char* f : {kRootCaCertificate, kIntermediateCaCertificate, kIntermediateCaCrl, kCaChain,
                        kServerCertificate, kServerChain}) {
    EXPECT_EQ(fileMode(dir / f), 0644u) << f;
  }
  EXPECT_EQ(issued.written.size(), 9u);

  auto serverChain = loadCertificateChain(dir / kServerChain);
  ASSERT_EQ(serverChain.size(), 2u);
  EXPECT_EQ(certificateInfo(serverChain[0].get()).sha256, issued.certificate.sha256);
  EXPECT_EQ(certificateInfo(serverChain[1].get()).sha256,
            certificateInfo(loadLeaf(dir / kIntermediateCaCertificate).get()).sha256);
  auto caChain = loadCertificateChain(dir / kCaChain);
  ASSERT_EQ(caChain.size(), 2u);
  EXPECT_EQ(certificateInfo(caChain[0].get()).sha256, certificateInfo(serverChain[1].get()).sha256);
  EXPECT_EQ(certificateInfo(caChain[1].get()).sha256, certificateInfo(loadLeaf(dir / kRootCaCertificate).get()).sha256);
  EXPECT_TRUE(keyMatchesCertificate(serverChain[0].get(), loadPrivateKey(dir / kServerKey).get()));
}

TEST_F(PkiTest, ServerChainVerifiesForServersAndItsNames) {
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.host = "sip.example.com"}), X509_V_OK);
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.host = "example.com"}), X509_V_OK);
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.host = "other.example.net"}), X509_V_ERR_HOSTNAME_MISMATCH);
  // clientAuth too: the server presents it when it connects to peers over mutual TLS.
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.purpose = X509_PURPOSE_SSL_CLIENT}), X509_V_OK);
  // The initial CRL is empty, signed, and satisfies a CRL check.
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.crl = dir / kIntermediateCaCrl}), X509_V_OK);
}

TEST_F(PkiTest, ExtensionsFollowRfc5280) {
  X509Ptr root = loadLeaf(dir / kRootCaCertificate);
  X509Ptr intermediate = loadLeaf(dir / kIntermediateCaCertificate);
  X509Ptr leaf = loadLeaf(dir / kServerCertificate);
  for (X509* ca : {root.get(), intermediate.get()}) {
    EXPECT_TRUE(critical(ca, NID_basic_constraints));
    EXPECT_TRUE(critical(ca, NID_key_usage));
    EXPECT_EQ(X509_get_key_usage(ca), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    EXPECT_NE(X509_get0_subject_key_id(ca), nullptr);
  }
  EXPECT_EQ(X509_get_pathlen(root.get()), -1);
  EXPECT_EQ(X509_get_pathlen(intermediate.get()), 0);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(leaf.get()), static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_TRUE(critical(leaf.get(), NID_basic_constraints));
  EXPECT_FALSE(critical(leaf.get(), NID_subject_alt_name));
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  // The key identifiers link each certificate to its issuer (§4.2.1.1, §4.2.1.2).
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf.get()), X509_get0_subject_key_id(intermediate.get())),
            0);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(intermediate.get()), X509_get0_subject_key_id(root.get())),
            0);
  EXPECT_EQ(X509_get_version(leaf.get()), X509_VERSION_3);
  EXPECT_EQ(EVP_PKEY_get_id(X509_get0_pubkey(leaf.get())), EVP_PKEY_EC);
  EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
}

TEST_F(PkiTest, RefusesToOverwriteWithoutForce) {
  std::string rootBefore = readFile(dir / kRootCaCertificate);
  PkiInitOptions o;
  o.names = {"sip.example.com"};
  o.outDir = dir.path();
  try {
    initPki(o, fixedNow());
    FAIL() << "overwrote an existing PKI";
  } catch (const CertificateError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("refusing to overwrite"), std::string::npos) << m;
    EXPECT_NE(m.find((dir / kRootCaKey).string()), std::string::npos) << m;
    EXPECT_NE(m.find("--force"), std::string::npos) << m;
  }
  EXPECT_EQ(readFile(dir / kRootCaCertificate), rootBefore);
  o.force = true;
  initPki(o, fixedNow());
  EXPECT_NE(readFile(dir / kRootCaCertificate), rootBefore);
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.host = "sip.example.com"}), X509_V_OK);
}

TEST_F(PkiTest, ClientCertificatesAreForClientsOnly) {
  ClientCertificateOptions o;
  o.name = "alice";
  o.caDir = dir.path();
  o.emails = {"alice@example.com"};
  o.uris = {"sip:alice@example.com"};
  IssuedFiles client = issueClientCertificate(o, fixedNow());
  EXPECT_EQ(client.written.size(), 3u);
  EXPECT_EQ(fileMode(dir / "alice.key"), 0600u);
  EXPECT_EQ(loadCertificateChain(dir / "alice-chain.crt").size(), 2u);
  EXPECT_EQ(client.certificate.commonName, "alice");
  EXPECT_EQ(client.certificate.emails, std::vector<std::string>{"alice@example.com"});
  EXPECT_EQ(client.certificate.uris, std::vector<std::string>{"sip:alice@example.com"});
  EXPECT_TRUE(client.certificate.clientAuth);
  EXPECT_FALSE(client.certificate.serverAuth);
  EXPECT_EQ(verify(dir.path(), dir / "alice.crt", {.purpose = X509_PURPOSE_SSL_CLIENT}), X509_V_OK);
  EXPECT_EQ(verify(dir.path(), dir / "alice.crt", {.purpose = X509_PURPOSE_SSL_SERVER}), X509_V_ERR_INVALID_PURPOSE);

  EXPECT_THROW(issueClientCertificate(o, fixedNow()), CertificateError);  // exists
  o.outDir = dir / "clients";
  issueClientCertificate(o, fixedNow());
  EXPECT_TRUE(fs::exists(dir / "clients" / "alice.crt"));
}

TEST_F(PkiTest, RevocationIsSeenByACrlCheck) {
  ClientCertificateOptions o;
  o.name = "bob";
  o.caDir = dir.path();
  issueClientCertificate(o, fixedNow());
  VerifyOptions withCrl{.purpose = X509_PURPOSE_SSL_CLIENT, .crl = dir / kIntermediateCaCrl};
  EXPECT_EQ(verify(dir.path(), dir / "bob.crt", withCrl), X509_V_OK);
  EXPECT_EQ(crlNumber(dir / kIntermediateCaCrl), 1);

  RevokeResult r = revokeCertificate("bob", dir.path(), fixedNow() + 1h);
  EXPECT_FALSE(r.alreadyRevoked);
  EXPECT_EQ(r.revokedCount, 1u);
  EXPECT_EQ(r.serial, certificateInfo(loadLeaf(dir / "bob.crt").get()).serial);
  EXPECT_EQ(r.nextUpdate, fixedNow() + 1h + Days(kCrlValidityDays));
  withCrl.at = fixedNow() + 2h;
  EXPECT_EQ(verify(dir.path(), dir / "bob.crt", withCrl), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify(dir.path(), dir / "bob.crt", {.purpose = X509_PURPOSE_SSL_CLIENT}), X509_V_OK);  // no CRL check
  EXPECT_EQ(crlNumber(dir / kIntermediateCaCrl), 2);  // RFC 5280 §5.2.3: increases with each CRL

  // The server certificate is not on the list; revoking it adds a second entry, keeping bob's.
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.crl = dir / kIntermediateCaCrl, .at = fixedNow() + 2h}),
            X509_V_OK);
  EXPECT_TRUE(revokeCertificate("bob", dir.path(), fixedNow() + 2h).alreadyRevoked);
  r = revokeCertificate((dir / kServerCertificate).string(), dir.path(), fixedNow() + 3h);
  EXPECT_EQ(r.revokedCount, 2u);
  withCrl.at = fixedNow() + 4h;
  EXPECT_EQ(verify(dir.path(), dir / "bob.crt", withCrl), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate, {.crl = dir / kIntermediateCaCrl, .at = fixedNow() + 4h}),
            X509_V_ERR_CERT_REVOKED);

  // A CRL past its nextUpdate is refused by relying parties; refreshCrl re-issues it.
  withCrl.at = fixedNow() + Days(kCrlValidityDays + 1);
  EXPECT_EQ(verify(dir.path(), dir / kServerCertificate,
                   {.crl = dir / kIntermediateCaCrl, .at = fixedNow() + Days(kCrlValidityDays + 1)}),
            X509_V_ERR_CRL_HAS_EXPIRED);
  RevokeResult refreshed = refreshCrl(dir.path(), fixedNow() + Days(kCrlValidityDays));
  EXPECT_EQ(refreshed.revokedCount, 2u);
  EXPECT_EQ(verify(dir.path(), dir / "bob.crt", withCrl), X509_V_ERR_CERT_REVOKED);
}

TEST_F(PkiTest, RevokeRefusesCertificatesOfAnotherCa) {
  TempDir other;
  PkiInitOptions o;
  o.names = {"other.example.net"};
  o.outDir = other.path();
  initPki(o, fixedNow());
  try {
    revokeCertificate((other / kServerCertificate).string(), dir.path(), fixedNow());
    FAIL();
  } catch (const CertificateError& e) {
    EXPECT_NE(std::string(e.what()).find("not issued by"), std::string::npos) << e.what();
  }
  EXPECT_THROW(revokeCertificate("nobody", dir.path(), fixedNow()), CertificateError);
}

TEST_F(PkiTest, ExpiredAndNotYetValidCertificatesFailVerification) {
  ClientCertificateOptions o;
  o.caDir = dir.path();
  o.name = "expired";
  o.validity.days = -1;
  IssuedFiles expired = issueClientCertificate(o, fixedNow());
  EXPECT_EQ(expired.certificate.notAfter, fixedNow() - Days(1));
  EXPECT_EQ(expired.certificate.notBefore, fixedNow() - Days(2));
  EXPECT_EQ(verify(dir.path(), dir / "expired.crt", {.purpose = X509_PURPOSE_SSL_CLIENT}), X509_V_ERR_CERT_HAS_EXPIRED);

  o.name = "future";
  o.validity = {};
  o.validity.notBefore = fixedNow() + Days(3);
  o.validity.notAfter = fixedNow() + Days(30);
  issueClientCertificate(o, fixedNow());
  EXPECT_EQ(verify(dir.path(), dir / "future.crt", {.purpose = X509_PURPOSE_SSL_CLIENT}),
            X509_V_ERR_CERT_NOT_YET_VALID);

  o.name = "too-long";
  o.validity = {};
  o.validity.days = 10 * 365;
  try {
    issueClientCertificate(o, fixedNow());
    FAIL() << "a certificate outliving its CA was issued";
  } catch (const CertificateError& e) {
    EXPECT_NE(std::string(e.what()).find("outlive"), std::string::npos) << e.what();
  }
}

TEST_F(PkiTest, CaLifetimesStretchToCoverALongServerCertificate) {
  TempDir longer;
  PkiInitOptions o;
  o.names = {"192.0.2.10"};
  o.outDir = longer.path();
  o.server.days = 20 * 365;
  IssuedFiles f = initPki(o, fixedNow());
  EXPECT_EQ(f.certificate.ipAddresses, std::vector<std::string>{"192.0.2.10"});
  EXPECT_TRUE(f.certificate.dnsNames.empty());
  CertificateInfo intermediate = certificateInfo(loadLeaf(longer / kIntermediateCaCertificate).get());
  CertificateInfo root = certificateInfo(loadLeaf(longer / kRootCaCertificate).get());
  EXPECT_GT(intermediate.notAfter, f.certificate.notAfter);
  EXPECT_GT(root.notAfter, intermediate.notAfter);
  EXPECT_EQ(verify(longer.path(), longer / kServerCertificate, {.host = "", .at = fixedNow() + Days(19 * 365)}),
            X509_V_OK);
}

TEST(PkiNames, BadNamesAreRefused) {
  TempDir dir;
  for (const char* bad : {"exa mple.com", "*.com", "-bad.example.com", "a..example.com", "bad-.example.com",
                          "\xc3\xa9t\xc3\xa9.example.com", ""}) {
    PkiInitOptions o;
    o.names = {bad};
    o.outDir = dir.path();
    EXPECT_THROW(initPki(o, fixedNow()), CertificateError) << bad;
  }
  EXPECT_TRUE(fs::is_empty(dir.path()));
  PkiInitOptions none;
  none.outDir = dir.path();
  EXPECT_THROW(initPki(none, fixedNow()), CertificateError);

  PkiInitOptions ok;
  ok.names = {"sip.example.com"};
  ok.outDir = dir.path();
  initPki(ok, fixedNow());
  for (const char* badClient : {"../evil", ".hidden", "server", "intermediate-ca", "a b", ""}) {
    ClientCertificateOptions c;
    c.name = badClient;
    c.caDir = dir.path();
    EXPECT_THROW(issueClientCertificate(c, fixedNow()), CertificateError) << badClient;
  }
  ClientCertificateOptions c;
  c.name = "carol";
  c.caDir = dir.path();
  c.uris = {"http://example.com/"};
  EXPECT_THROW(issueClientCertificate(c, fixedNow()), CertificateError);
  c.uris.clear();
  c.emails = {"carol"};
  EXPECT_THROW(issueClientCertificate(c, fixedNow()), CertificateError);
}

TEST(Validity, DaysAndExplicitTimes) {
  auto now = fixedNow();
  auto [nb, na] = resolveValidity({.days = 10}, now);
  EXPECT_EQ(nb, now - 5min);
  EXPECT_EQ(na, now + Days(10));
  std::tie(nb, na) = resolveValidity({.days = -3}, now);
  EXPECT_EQ(na, now - Days(3));
  EXPECT_EQ(nb, now - Days(4));
  std::tie(nb, na) = resolveValidity({.days = 1, .notBefore = now + Days(1), .notAfter = now + Days(2)}, now);
  EXPECT_EQ(nb, now + Days(1));
  EXPECT_EQ(na, now + Days(2));
  EXPECT_THROW(resolveValidity({.days = 1, .notBefore = now + Days(2), .notAfter = now + Days(2)}, now),
               CertificateError);
  EXPECT_THROW(resolveValidity({.days = 40000}, now), CertificateError);
}

}  // namespace
}  // namespace sipwarden::tls
