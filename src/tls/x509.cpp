#include "tls/x509.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace sipwarden::tls {

namespace {

struct BignumDeleter {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct Asn1TimeDeleter {
  void operator()(ASN1_TIME* p) const noexcept { ASN1_TIME_free(p); }
};
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
struct EkuDeleter {
  void operator()(EXTENDED_KEY_USAGE* p) const noexcept { EXTENDED_KEY_USAGE_free(p); }
};
struct BasicConstraintsDeleter {
  void operator()(BASIC_CONSTRAINTS* p) const noexcept { BASIC_CONSTRAINTS_free(p); }
};
struct OctetStringDeleter {
  void operator()(ASN1_OCTET_STRING* p) const noexcept { ASN1_OCTET_STRING_free(p); }
};
struct BitStringDeleter {
  void operator()(ASN1_BIT_STRING* p) const noexcept { ASN1_BIT_STRING_free(p); }
};
struct AuthorityKeyIdDeleter {
  void operator()(AUTHORITY_KEYID* p) const noexcept { AUTHORITY_KEYID_free(p); }
};
struct X509NameDeleter {
  void operator()(X509_NAME* p) const noexcept { X509_NAME_free(p); }
};

[[noreturn]] void fail(const std::string& what) {
  std::string reason = takeOpenSslErrors();
  throw CertificateError(reason.empty() ? what : what + " (" + reason + ")");
}

BioPtr memoryBio(std::string_view text) {
  BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) fail("out of memory");
  return bio;
}

std::string drain(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string nameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  // RFC 2253 order and escaping, but UTF-8 kept as UTF-8 rather than \XX escapes.
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    fail("cannot print a distinguished name");
  }
  return drain(bio.get());
}

std::string asn1StringToUtf8(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0) {
    takeOpenSslErrors();
    return {};
  }
  std::string r(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
  OPENSSL_free(out);
  return r;
}

/// An IA5String SAN entry; nullopt when it holds a NUL (a name that would compare shorter than it
/// is, the classic "www.bank.com\0.evil.com" trick).
std::optional<std::string> ia5(const ASN1_IA5STRING* s) {
  std::string r(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                static_cast<std::size_t>(ASN1_STRING_length(s)));
  if (r.find('\0') != std::string::npos) return std::nullopt;
  return r;
}

std::string hexColons(const unsigned char* data, unsigned int len) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string r;
  r.reserve(len * 3);
  for (unsigned int i = 0; i < len; ++i) {
    if (i) r += ':';
    r += kHex[data[i] >> 4];
    r += kHex[data[i] & 0xf];
  }
  return r;
}

std::unique_ptr<ASN1_TIME, Asn1TimeDeleter> asn1Time(std::chrono::system_clock::time_point t) {
  // ASN1_TIME_set chooses UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
  std::time_t secs = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
  std::unique_ptr<ASN1_TIME, Asn1TimeDeleter> r(ASN1_TIME_set(nullptr, secs));
  if (!r) fail("cannot encode the time " + std::to_string(secs));
  return r;
}

void addExtension(X509* x, int nid, void* value, bool critical, const char* what) {
  if (X509_add1_ext_i2d(x, nid, value, critical ? 1 : 0, X509V3_ADD_DEFAULT) != 1)
    fail(std::string("cannot add ") + what);
}

void addGeneralName(GENERAL_NAMES* names, int type, const std::string& value) {
  GENERAL_NAME* g = GENERAL_NAME_new();
  if (!g) fail("out of memory");
  if (type == GEN_IPADD) {
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(value.c_str());
    if (!ip) {
      GENERAL_NAME_free(g);
      fail("\"" + value + "\" is not an IP address");
    }
    GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
  } else {
    // IA5String (RFC 5280 §4.2.1.6): ASCII only; internationalized names go in as A-labels.
    for (char c : value) {
      if (static_cast<unsigned char>(c) > 0x7e || static_cast<unsigned char>(c) < 0x20) {
        GENERAL_NAME_free(g);
        throw CertificateError("\"" + value +
                               "\": subjectAltName entries must be printable ASCII (use the A-label "
                               "form, xn--..., for internationalized domain names)");
      }
    }
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    if (!s || ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(s);
      GENERAL_NAME_free(g);
      fail("out of memory");
    }
    GENERAL_NAME_set0_value(g, type, s);
  }
  if (sk_GENERAL_NAME_push(names, g) <= 0) {
    GENERAL_NAME_free(g);
    fail("out of memory");
  }
}

std::unique_ptr<ASN1_OCTET_STRING, OctetStringDeleter> keyIdentifier(X509* certificate) {
  // RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(certificate, EVP_sha1(), md, &len) != 1) fail("cannot hash the public key");
  std::unique_ptr<ASN1_OCTET_STRING, OctetStringDeleter> id(ASN1_OCTET_STRING_new());
  if (!id || ASN1_OCTET_STRING_set(id.get(), md, static_cast<int>(len)) != 1) fail("out of memory");
  return id;
}

}  // namespace

std::string takeOpenSslErrors() {
  std::string r;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!r.empty()) r += "; ";
    r += buf;
  }
  return r;
}

std::string readFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw CertificateError(file.string() + ": cannot read: " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw CertificateError(file.string() + ": cannot read: " + std::strerror(errno));
  return s.str();
}

std::vector<X509Ptr> parseCertificateChain(std::string_view pem, const std::string& origin) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  std::size_t blocks = 0;
  for (std::size_t pos = pem.find(kBegin); pos != std::string_view::npos; pos = pem.find(kBegin, pos + 1)) ++blocks;
  if (blocks == 0) throw CertificateError(origin + ": no PEM certificate (-----BEGIN CERTIFICATE-----) in it");
  BioPtr bio = memoryBio(pem);
  std::vector<X509Ptr> chain;
  // PEM_read_bio_X509 skips blocks of other types (a key in a combined file).
  for (std::size_t i = 0; i < blocks; ++i) {
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x)
      fail(origin + ": certificate " + std::to_string(i + 1) + " of " + std::to_string(blocks) + " does not parse");
    chain.push_back(std::move(x));
  }
  return chain;
}

std::vector<X509Ptr> loadCertificateChain(const std::filesystem::path& file) {
  return parseCertificateChain(readFile(file), file.string());
}

bool containsPrivateKey(std::string_view pem) {
  for (std::size_t pos = pem.find("-----BEGIN "); pos != std::string_view::npos;
       pos = pem.find("-----BEGIN ", pos + 1)) {
    std::size_t end = pem.find("-----", pos + 11);
    if (end == std::string_view::npos) return false;
    std::string_view label = pem.substr(pos + 11, end - pos - 11);
    if (label.size() >= 11 && label.substr(label.size() - 11) == "PRIVATE KEY") return true;
  }
  return false;
}

EvpPkeyPtr parsePrivateKey(std::string_view pem, const std::string& origin) {
  for (std::size_t pos = pem.find("-----BEGIN "); pos != std::string_view::npos;
       pos = pem.find("-----BEGIN ", pos + 1)) {
    std::size_t end = pem.find("-----", pos + 11);
    if (end == std::string_view::npos) break;
    std::string_view label = pem.substr(pos + 11, end - pos - 11);
    if (label.size() < 11 || label.substr(label.size() - 11) != "PRIVATE KEY") continue;
    std::size_t blockEnd = pem.find("-----END ", end);
    std::string_view block =
        pem.substr(pos, blockEnd == std::string_view::npos ? std::string_view::npos : blockEnd - pos);
    if (label == "ENCRYPTED PRIVATE KEY" || block.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
      throw CertificateError(origin +
                             ": the private key is encrypted; the server cannot ask for a pass phrase "
                             "(decrypt it with `openssl pkey -in KEY -out KEY.plain` and keep that file mode 0600)");
    }
    BioPtr bio = memoryBio(pem.substr(pos));
    // No pass phrase callback may prompt on a terminal: the key was checked to be unencrypted.
    auto noPassword = [](char*, int, int, void*) -> int { return -1; };
    EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr));
    if (!key) fail(origin + ": the private key does not parse");
    return key;
  }
  throw CertificateError(origin + ": no PEM private key (-----BEGIN PRIVATE KEY-----) in it");
}

EvpPkeyPtr loadPrivateKey(const std::filesystem::path& file) { return parsePrivateKey(readFile(file), file.string()); }

bool keyMatchesCertificate(X509* certificate, EVP_PKEY* key) {
  EVP_PKEY* pub = X509_get0_pubkey(certificate);
  bool same = pub != nullptr && key != nullptr && EVP_PKEY_eq(pub, key) == 1;
  takeOpenSslErrors();  // a mismatch of key types leaves an error behind
  return same;
}

std::string fingerprint(X509* certificate, const EVP_MD* digest) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(certificate, digest, md, &len) != 1) fail("cannot hash a certificate");
  return hexColons(md, len);
}

std::chrono::system_clock::time_point toTimePoint(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) fail("a certificate time does not parse");
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

CertificateInfo certificateInfo(X509* certificate) {
  CertificateInfo info;
  info.subject = nameToString(X509_get_subject_name(certificate));
  info.issuer = nameToString(X509_get_issuer_name(certificate));

  std::unique_ptr<BIGNUM, BignumDeleter> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(certificate), nullptr));
  if (!serial) fail("cannot read a certificate's serial number");
  char* hex = BN_bn2hex(serial.get());
  if (!hex) fail("out of memory");
  info.serial = hex;
  OPENSSL_free(hex);
  if (info.serial == "0") info.serial = "00";  // as `openssl x509 -serial` prints it

  info.sha1 = fingerprint(certificate, EVP_sha1());
  info.sha256 = fingerprint(certificate, EVP_sha256());
  info.notBefore = toTimePoint(X509_get0_notBefore(certificate));
  info.notAfter = toTimePoint(X509_get0_notAfter(certificate));

  const X509_NAME* subject = X509_get_subject_name(certificate);
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    info.commonName = asn1StringToUtf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
  }

  std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
    switch (g->type) {
      case GEN_DNS:
        if (auto s = ia5(g->d.dNSName)) info.dnsNames.push_back(*s);
        break;
      case GEN_URI:
        if (auto s = ia5(g->d.uniformResourceIdentifier)) info.uris.push_back(*s);
        break;
      case GEN_EMAIL:
        if (auto s = ia5(g->d.rfc822Name)) info.emails.push_back(*s);
        break;
      case GEN_IPADD: {
        char out[INET6_ADDRSTRLEN];
        int len = ASN1_STRING_length(g->d.iPAddress);
        const unsigned char* p = ASN1_STRING_get0_data(g->d.iPAddress);
        if ((len == 4 && inet_ntop(AF_INET, p, out, sizeof out)) ||
            (len == 16 && inet_ntop(AF_INET6, p, out, sizeof out))) {
          info.ipAddresses.emplace_back(out);
        }
        break;
      }
      default: break;
    }
  }

  std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsDeleter> bc(
      static_cast<BASIC_CONSTRAINTS*>(X509_get_ext_d2i(certificate, NID_basic_constraints, nullptr, nullptr)));
  info.isCa = bc && bc->ca;

  int critical = -1;
  std::unique_ptr<EXTENDED_KEY_USAGE, EkuDeleter> eku(
      static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(certificate, NID_ext_key_usage, &critical, nullptr)));
  if (!eku) {
    // Absent (critical == -1): no restriction (RFC 5280 §4.2.1.12). Present but unreadable: no use.
    info.serverAuth = info.clientAuth = critical == -1;
  } else {
    for (int i = 0; i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
      int nid = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku.get(), i));
      if (nid == NID_server_auth || nid == NID_anyExtendedKeyUsage) info.serverAuth = true;
      if (nid == NID_client_auth || nid == NID_anyExtendedKeyUsage) info.clientAuth = true;
    }
  }

  info.selfSigned = X509_NAME_cmp(X509_get_subject_name(certificate), X509_get_issuer_name(certificate)) == 0 &&
                    X509_verify(certificate, X509_get0_pubkey(certificate)) == 1;
  takeOpenSslErrors();  // a failed self-signature check is an answer, not an error
  return info;
}

std::string toPem(X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) fail("cannot write a certificate as PEM");
  return drain(bio.get());
}

std::string toPem(X509_CRL* crl) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl) != 1) fail("cannot write a CRL as PEM");
  return drain(bio.get());
}

std::string privateKeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("cannot write a private key as PEM");
  }
  return drain(bio.get());
}

X509CrlPtr loadCrl(const std::filesystem::path& file) {
  std::string text = readFile(file);
  BioPtr bio = memoryBio(text);
  X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!crl) fail(file.string() + ": no PEM CRL (-----BEGIN X509 CRL-----) in it, or it does not parse");
  return crl;
}

EvpPkeyPtr generateEcKey() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

X509Ptr issueCertificate(const CertificateProfile& profile, EVP_PKEY* subjectKey, X509* issuer, EVP_PKEY* issuerKey) {
  if (issuer == nullptr) issuerKey = subjectKey;
  if (subjectKey == nullptr || issuerKey == nullptr) throw CertificateError("issueCertificate: a key is missing");
  if (profile.notAfter <= profile.notBefore) {
    throw CertificateError("the validity period is empty: notAfter must come after notBefore");
  }
  X509Ptr x(X509_new());
  if (!x || X509_set_version(x.get(), X509_VERSION_3) != 1) fail("out of memory");

  // RFC 5280 §4.1.2.2: positive, at most 20 octets, unique per CA: 128 random bits make collisions
  // negligible without keeping a counter (CA/Browser Forum asks for at least 64 bits of entropy).
  std::unique_ptr<BIGNUM, BignumDeleter> serial(BN_new());
  do {
    if (!serial || BN_rand(serial.get(), 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1) fail("no random serial");
  } while (BN_is_zero(serial.get()));
  if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get()))) fail("cannot set the serial number");

  if (X509_set1_notBefore(x.get(), asn1Time(profile.notBefore).get()) != 1 ||
      X509_set1_notAfter(x.get(), asn1Time(profile.notAfter).get()) != 1) {
    fail("cannot set the validity");
  }

  std::unique_ptr<X509_NAME, X509NameDeleter> name(X509_NAME_new());
  if (!name) fail("out of memory");
  auto addEntry = [&](int nid, const std::string& value, const char* what) {
    if (value.empty()) return;
    if (X509_NAME_add_entry_by_NID(name.get(), nid, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      fail(std::string("cannot use \"") + value + "\" as the " + what);
    }
  };
  addEntry(NID_organizationName, profile.organization, "organization (O)");
  // ub-common-name is 64 characters (RFC 5280 appendix A); a longer name lives in the SAN only.
  if (profile.commonName.size() <= 64) addEntry(NID_commonName, profile.commonName, "common name (CN)");
  bool emptySubject = X509_NAME_entry_count(name.get()) == 0;
  if (X509_set_subject_name(x.get(), name.get()) != 1 ||
      X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name.get()) != 1 ||
      X509_set_pubkey(x.get(), subjectKey) != 1) {
    fail("cannot set the names or the public key");
  }

  // §4.2.1.9: basicConstraints critical in CA certificates; marked critical in end-entity ones too
  // so that no relying party can take a leaf for a CA.
  std::unique_ptr<BASIC_CONSTRAINTS, BasicConstraintsDeleter> bc(BASIC_CONSTRAINTS_new());
  if (!bc) fail("out of memory");
  bc->ca = profile.ca ? 0xff : 0;
  if (profile.ca && profile.pathLength) {
    bc->pathlen = ASN1_INTEGER_new();
    if (!bc->pathlen || ASN1_INTEGER_set(bc->pathlen, *profile.pathLength) != 1) fail("out of memory");
  }
  addExtension(x.get(), NID_basic_constraints, bc.get(), true, "basicConstraints");

  // §4.2.1.3: keyCertSign and cRLSign for CAs; digitalSignature for an ECDSA end entity (the key
  // signs the TLS handshake; keyEncipherment applies to RSA key transport only). Critical: SHOULD.
  std::unique_ptr<ASN1_BIT_STRING, BitStringDeleter> ku(ASN1_BIT_STRING_new());
  if (!ku) fail("out of memory");
  if (profile.ca) {
    ASN1_BIT_STRING_set_bit(ku.get(), 5, 1);  // keyCertSign
    ASN1_BIT_STRING_set_bit(ku.get(), 6, 1);  // cRLSign
  } else {
    ASN1_BIT_STRING_set_bit(ku.get(), 0, 1);  // digitalSignature
  }
  addExtension(x.get(), NID_key_usage, ku.get(), true, "keyUsage");

  // §4.2.1.12: id-kp-serverAuth / id-kp-clientAuth.
  if (profile.serverAuth || profile.clientAuth) {
    std::unique_ptr<EXTENDED_KEY_USAGE, EkuDeleter> eku(sk_ASN1_OBJECT_new_null());
    if (!eku) fail("out of memory");
    if (profile.serverAuth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth));
    if (profile.clientAuth) sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_client_auth));
    addExtension(x.get(), NID_ext_key_usage, eku.get(), false, "extendedKeyUsage");
  }

  // §4.2.1.2: subjectKeyIdentifier MUST be in CA certificates, SHOULD in end-entity ones.
  auto ski = keyIdentifier(x.get());
  addExtension(x.get(), NID_subject_key_identifier, ski.get(), false, "subjectKeyIdentifier");

  // §4.2.1.1: authorityKeyIdentifier keyIdentifier MUST be present except in self-signed
  // certificates, where it MAY be: included there too, it equals the subjectKeyIdentifier.
  std::unique_ptr<AUTHORITY_KEYID, AuthorityKeyIdDeleter> akid(AUTHORITY_KEYID_new());
  if (!akid) fail("out of memory");
  if (issuer == nullptr) {
    akid->keyid = ASN1_OCTET_STRING_dup(ski.get());
  } else if (const ASN1_OCTET_STRING* issuerSki = X509_get0_subject_key_id(issuer)) {
    akid->keyid = ASN1_OCTET_STRING_dup(issuerSki);
  } else {
    akid->keyid = keyIdentifier(issuer).release();
  }
  if (!akid->keyid) fail("out of memory");
  addExtension(x.get(), NID_authority_key_identifier, akid.get(), false, "authorityKeyIdentifier");

  // §4.2.1.6: subjectAltName; critical when the subject is empty.
  if (!profile.dnsNames.empty() || !profile.ipAddresses.empty() || !profile.uris.empty() || !profile.emails.empty()) {
    std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter> names(sk_GENERAL_NAME_new_null());
    if (!names) fail("out of memory");
    for (const std::string& d : profile.dnsNames) addGeneralName(names.get(), GEN_DNS, d);
    for (const std::string& a : profile.ipAddresses) addGeneralName(names.get(), GEN_IPADD, a);
    for (const std::string& u : profile.uris) addGeneralName(names.get(), GEN_URI, u);
    for (const std::string& e : profile.emails) addGeneralName(names.get(), GEN_EMAIL, e);
    addExtension(x.get(), NID_subject_alt_name, names.get(), emptySubject, "subjectAltName");
  } else if (emptySubject) {
    throw CertificateError("a certificate needs a subject name or a subjectAltName");
  }

  if (X509_sign(x.get(), issuerKey, EVP_sha256()) <= 0) fail("cannot sign the certificate");
  return x;
}

void writeFileAtomically(const std::filesystem::path& file, std::string_view content, mode_t mode) {
  std::filesystem::path dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
  std::string tmpl = (dir / ("." + file.filename().string() + ".XXXXXX")).string();
  int fd = mkstemp(tmpl.data());
  if (fd < 0)
    throw CertificateError(file.string() + ": cannot create a file in " + dir.string() + ": " + std::strerror(errno));
  auto failWith = [&](const char* step) {
    int e = errno;
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw CertificateError(file.string() + ": cannot " + step + ": " + std::strerror(e));
  };
  // mkstemp creates 0600; set the mode before any byte is written (a key is never world-readable).
  if (fchmod(fd, mode) != 0) failWith("set its mode");
  for (std::size_t done = 0; done < content.size();) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) failWith("write it");
    done += static_cast<std::size_t>(n);
  }
  if (fsync(fd) != 0) failWith("flush it");
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    throw CertificateError(file.string() + ": cannot write it: " + std::strerror(e));
  }
  if (std::rename(tmpl.c_str(), file.c_str()) != 0) {
    int e = errno;
    ::unlink(tmpl.c_str());
    throw CertificateError(file.string() + ": cannot replace it: " + std::strerror(e));
  }
  // The rename itself is durable once the directory is flushed.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace sipwarden::tls
