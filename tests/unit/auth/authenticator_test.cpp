#include "auth/authenticator.hpp"

#include <gtest/gtest.h>

#include <map>

#include "sip/header_values.hpp"
#include "sip/parser.hpp"

namespace sipwarden::auth {
namespace {

using namespace std::chrono_literals;

const WallClock::time_point kT0{std::chrono::seconds(1714521600)};
constexpr std::string_view kRealm = "example.com";
constexpr std::string_view kRequestUri = "sip:example.com";

std::vector<std::uint8_t> testSecret() { return std::vector<std::uint8_t>(32, 0x5a); }

/// The parameters of one Authorization value; `response` is computed from `password` unless set.
struct Creds {
  std::string scheme = "Digest";
  std::string username = "alice";
  std::string realm = std::string(kRealm);
  std::string password = "secret";
  std::string nonce;
  std::string uri = std::string(kRequestUri);
  std::optional<std::string> algorithm = "MD5";
  std::string qop = "auth";
  std::string nc = "00000001";
  std::string cnonce = "0a4f113b";
  std::optional<std::string> opaque;
  std::optional<std::string> response;
  std::string method = "REGISTER";
  bool omitNonce = false;
};

/// Quotes a value the way a UA writes it in an auth-param.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string authorizationValue(const Creds& c) {
  DigestAlgorithm algorithm =
      c.algorithm ? parseAlgorithm(*c.algorithm).value_or(DigestAlgorithm::Md5) : DigestAlgorithm::Md5;
  std::string response =
      c.response.value_or(computeResponse(algorithm, computeHa1(algorithm, c.username, c.realm, c.password), c.method,
                                          c.uri, c.nonce, c.nc, c.cnonce, c.qop));
  std::string v = c.scheme + " username=" + quote(c.username) + ", realm=" + quote(c.realm);
  if (!c.omitNonce) v += ", nonce=" + quote(c.nonce);
  v += ", uri=" + quote(c.uri) + ", response=" + quote(response);
  if (c.algorithm) v += ", algorithm=" + *c.algorithm;
  if (!c.qop.empty()) v += ", qop=" + c.qop + ", nc=" + c.nc + ", cnonce=" + quote(c.cnonce);
  if (c.opaque) v += ", opaque=" + quote(*c.opaque);
  return v;
}

/// A REGISTER (CRLF line ends) carrying `authHeaders` (full header lines without CRLF).
std::string registerText(const std::vector<std::string>& authHeaders, std::string_view toUser = "alice",
                         std::string_view requestUri = kRequestUri) {
  std::string t = "REGISTER " + std::string(requestUri) + " SIP/2.0\r\n";
  t += "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKnashds7\r\n";
  t += "Max-Forwards: 70\r\n";
  t += "From: <sip:" + std::string(toUser) + "@example.com>;tag=a73kszlfl\r\n";
  t += "To: <sip:" + std::string(toUser) + "@example.com>\r\n";
  t += "Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.10\r\n";
  t += "CSeq: 1 REGISTER\r\n";
  t += "Contact: <sip:alice@192.0.2.10:5060>\r\n";
  for (const std::string& h : authHeaders) t += h + "\r\n";
  t += "Expires: 3600\r\n";
  t += "Content-Length: 0\r\n\r\n";
  return t;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  explicit AuthenticatorTest(std::size_t nonceSlots = std::size_t{1} << 20)
      : auth_(settings(nonceSlots), testSecret()) {}

  static AuthSettings settings(std::size_t nonceSlots = std::size_t{1} << 20) {
    AuthSettings s;
    s.offered = {DigestAlgorithm::Sha256, DigestAlgorithm::Md5, DigestAlgorithm::Sha512_256};
    s.nonceSlots = nonceSlots;
    return s;
  }

  CredentialLookup lookup() {
    return [this](std::string_view user, std::string_view realm) -> std::optional<Ha1Set> {
      ++lookups_;
      auto it = passwords_.find(std::string(user));
      if (it == passwords_.end()) return std::nullopt;
      return computeHa1Set(user, realm, it->second);
    };
  }

  /// Parses `text` and verifies it; the message's views stay inside this call.
  AuthResult verifyText(const std::string& text, WallClock::time_point now, std::string_view requiredUser = "alice",
                        sip::HeaderId header = sip::HeaderId::Authorization, std::string_view realm = kRealm) {
    sip::Message msg;
    sip::ParseError err = sip::parseMessage(text, msg);
    EXPECT_TRUE(err.ok()) << text;
    AuthResult r = auth_.verify(msg, header, realm, requiredUser, lookup(), now);
    for (const auto& [user, password] : passwords_) {
      EXPECT_EQ(r.reason.find(password), std::string::npos);
      Ha1Set ha1 = computeHa1Set(user, realm, password);
      EXPECT_EQ(r.reason.find(ha1.md5), std::string::npos);
      EXPECT_EQ(r.reason.find(ha1.sha256), std::string::npos);
    }
    return r;
  }

  AuthResult verifyCreds(const Creds& c, WallClock::time_point now, std::string_view requiredUser = "alice") {
    return verifyText(registerText({"Authorization: " + authorizationValue(c)}), now, requiredUser);
  }

  /// Credentials for a nonce freshly issued at kT0.
  Creds fresh() {
    Creds c;
    c.nonce = auth_.nonces().issue(kT0);
    c.opaque = auth_.nonces().opaque();
    return c;
  }

  Authenticator auth_;
  std::map<std::string, std::string> passwords_{{"alice", "secret"}, {"bob", "hunter2"}, {"a\"b\\c", "Qx-9pass"}};
  int lookups_ = 0;
};

/// A replay table of four slots, so that nonces overtake one another.
class AuthenticatorSmallTableTest : public AuthenticatorTest {
 protected:
  AuthenticatorSmallTableTest() : AuthenticatorTest(4) {}
};

TEST_F(AuthenticatorTest, CorrectMd5) {
  AuthResult r = verifyCreds(fresh(), kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Authenticated) << r.reason;
  EXPECT_EQ(r.user, "alice");
}

TEST_F(AuthenticatorTest, CorrectSha256) {
  Creds c = fresh();
  c.algorithm = "SHA-256";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, CorrectSha512_256) {
  Creds c = fresh();
  c.algorithm = "SHA-512-256";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, AlgorithmNamesAreCaseInsensitive) {
  Creds c = fresh();
  c.algorithm = "sha-256";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, AbsentAlgorithmMeansMd5) {
  Creds c = fresh();
  c.algorithm.reset();
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, WrongPasswordIsRejected) {
  Creds c = fresh();
  c.password = "Secret";
  AuthResult r = verifyCreds(c, kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(r.reason, "wrong response");
  EXPECT_EQ(r.user, "alice");
}

TEST_F(AuthenticatorTest, WrongAlgorithmForTheResponseIsRejected) {
  // Computed with SHA-256 but labelled MD5.
  Creds c = fresh();
  c.algorithm = "SHA-256";
  Creds labelled = c;
  labelled.algorithm = "MD5";
  labelled.response =
      computeResponse(DigestAlgorithm::Sha256, computeHa1(DigestAlgorithm::Sha256, "alice", kRealm, "secret"),
                      "REGISTER", c.uri, c.nonce, c.nc, c.cnonce, c.qop);
  EXPECT_EQ(verifyCreds(labelled, kT0 + 1s).outcome, AuthOutcome::Rejected);
}

TEST_F(AuthenticatorTest, UnknownUserIsRejected) {
  Creds c = fresh();
  c.username = "mallory";
  AuthResult r = verifyCreds(c, kT0 + 1s, "mallory");
  EXPECT_EQ(r.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(r.reason, "unknown user");
}

TEST_F(AuthenticatorTest, ReplayedNcIsRejectedAndHigherNcAccepted) {
  Creds c = fresh();
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
  AuthResult replay = verifyCreds(c, kT0 + 2s);
  EXPECT_EQ(replay.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(replay.reason, "replayed nc");
  c.nc = "00000002";
  EXPECT_EQ(verifyCreds(c, kT0 + 3s).outcome, AuthOutcome::Authenticated);
  c.nc = "00000001";
  EXPECT_EQ(verifyCreds(c, kT0 + 4s).outcome, AuthOutcome::Rejected);
  c.nc = "0000000A";  // upper-case hex digits are read too
  EXPECT_EQ(verifyCreds(c, kT0 + 5s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, ExpiredNonceWithRightResponseIsStale) {
  Creds c = fresh();
  AuthResult r = verifyCreds(c, kT0 + 301s);
  EXPECT_EQ(r.outcome, AuthOutcome::Stale);
  EXPECT_EQ(r.user, "alice");
}

TEST_F(AuthenticatorTest, ExpiredNonceWithWrongResponseIsRejected) {
  Creds c = fresh();
  c.password = "guess";
  EXPECT_EQ(verifyCreds(c, kT0 + 301s).outcome, AuthOutcome::Rejected);
}

TEST_F(AuthenticatorTest, ForgedNonceIsRejected) {
  // A well-formed nonce from a server with another secret; the response itself is right for it.
  NonceService other(std::vector<std::uint8_t>(32, 0x01), 300s);
  Creds c = fresh();
  c.nonce = other.issue(kT0);
  AuthResult r = verifyCreds(c, kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(r.reason, "invalid nonce");
  c.nonce = "3135ef65-3466-4f70-8035-ec70ff10ae75";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Rejected);
  EXPECT_EQ(lookups_, 0);  // no credential lookup for nonces we never issued
}

TEST_F(AuthenticatorTest, NonceFromTheFutureIsRejected) {
  Creds c;
  c.nonce = auth_.nonces().issue(kT0 + 60s);
  EXPECT_EQ(verifyCreds(c, kT0).outcome, AuthOutcome::Rejected);
}

TEST_F(AuthenticatorTest, UsernameOtherThanRequiredUserIsForbidden) {
  Creds c = fresh();
  c.username = "bob";
  c.password = "hunter2";
  AuthResult r = verifyCreds(c, kT0 + 1s, "alice");
  EXPECT_EQ(r.outcome, AuthOutcome::Forbidden);
  EXPECT_EQ(r.user, "bob");
  EXPECT_FALSE(r.reason.empty());
  // No required user: bob is simply authenticated.
  c.nc = "00000002";
  EXPECT_EQ(verifyCreds(c, kT0 + 2s, "").outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, ForbiddenOnlyAfterTheCredentialsCheckOut) {
  Creds c = fresh();
  c.username = "bob";
  c.password = "wrong";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s, "alice").outcome, AuthOutcome::Rejected);
}

TEST_F(AuthenticatorTest, MissingNonceIsMalformed) {
  Creds c = fresh();
  c.omitNonce = true;
  AuthResult r = verifyCreds(c, kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Malformed);
  EXPECT_EQ(r.reason, "Bad Authorization: missing nonce");
}

TEST_F(AuthenticatorTest, MissingFieldsAreMalformed) {
  std::string nonce = auth_.nonces().issue(kT0);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Digest realm=\"example.com\", nonce=\"" + nonce +
           "\", uri=\"sip:example.com\", response=\"0\", qop=auth, nc=00000001, cnonce=\"x\"",
       "Bad Authorization: missing username"},
      {"Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
           "\", response=\"0\", qop=auth, nc=00000001, cnonce=\"x\"",
       "Bad Authorization: missing uri"},
      {"Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
           "\", uri=\"sip:example.com\", qop=auth, nc=00000001, cnonce=\"x\"",
       "Bad Authorization: missing response"},
      {"Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
           "\", uri=\"sip:example.com\", response=\"0\", qop=auth, cnonce=\"x\"",
       "Bad Authorization: qop without nc"},
      {"Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
           "\", uri=\"sip:example.com\", response=\"0\", qop=auth, nc=00000001",
       "Bad Authorization: qop without cnonce"},
      {"Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
           "\", uri=\"sip:example.com\", response=\"0\", qop=auth, nc=1, cnonce=\"x\"",
       "Bad Authorization: nc is not 8 hex digits"},
      {"Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
           "\", uri=\"sip:example.com\", response=\"0\", qop=auth, nc=0000000g, cnonce=\"x\"",
       "Bad Authorization: nc is not 8 hex digits"},
      {"Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
           "\", uri=\"sip:example.com\", response=\"0\", qop=auth, nc=000000001, cnonce=\"x\"",
       "Bad Authorization: nc is not 8 hex digits"},
  };
  for (const auto& [value, reason] : cases) {
    AuthResult r = verifyText(registerText({"Authorization: " + value}), kT0 + 1s);
    EXPECT_EQ(r.outcome, AuthOutcome::Malformed) << value;
    EXPECT_EQ(r.reason, reason) << value;
  }
}

TEST_F(AuthenticatorTest, BadSyntaxIsMalformed) {
  std::string nonce = auth_.nonces().issue(kT0);
  AuthResult r = verifyText(registerText({"Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"" +
                                          nonce + "\", uri=\"sip:exa"}),
                            kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Malformed);
  EXPECT_EQ(r.reason.rfind("Bad Authorization: ", 0), 0u) << r.reason;
  r = verifyText(registerText({"Authorization: Digest username=\"alice\", nonce=\"" + nonce + "\""}), kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Malformed);
  EXPECT_EQ(r.reason, "Bad Authorization: missing realm");
}

TEST_F(AuthenticatorTest, UriMismatchIsMalformed) {
  Creds c = fresh();
  c.uri = "sip:other.example.com";
  AuthResult r = verifyCreds(c, kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Malformed);
  EXPECT_EQ(r.reason, "Bad Authorization: uri does not match the Request-URI");
  c.uri = "not a uri";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Malformed);
}

TEST_F(AuthenticatorTest, UriEqualAsUriIsAccepted) {
  // RFC 3261 §19.1.4: the host compares case-insensitively; the response hashes the uri as sent.
  Creds c = fresh();
  c.uri = "sip:EXAMPLE.COM";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, MissingQopIsRejected) {
  Creds c = fresh();
  c.qop.clear();  // RFC 2069 credentials
  AuthResult r = verifyCreds(c, kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(r.reason, "missing qop");
}

TEST_F(AuthenticatorTest, AuthIntIsRejected) {
  Creds c = fresh();
  c.qop = "auth-int";
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Rejected);
}

TEST_F(AuthenticatorTest, UnsupportedAlgorithmIsRejected) {
  Creds c = fresh();
  c.algorithm = "MD5-sess";
  AuthResult r = verifyCreds(c, kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(r.reason, "unsupported algorithm");
}

TEST_F(AuthenticatorTest, AlgorithmNotOfferedIsRejected) {
  AuthSettings s;
  s.offered = {DigestAlgorithm::Sha256};
  Authenticator sha256Only(s, testSecret());
  Creds c = fresh();  // MD5; same secret, so the nonce is good for sha256Only too
  std::string text = registerText({"Authorization: " + authorizationValue(c)});
  sip::Message msg;
  ASSERT_TRUE(sip::parseMessage(text, msg).ok());
  AuthResult r = sha256Only.verify(msg, sip::HeaderId::Authorization, kRealm, "alice", lookup(), kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(r.reason, "algorithm not offered");
}

TEST_F(AuthenticatorTest, UserhashIsRejected) {
  // RFC 7616 §3.4 writes userhash as a token; a quoted or upper-case true is the same request.
  for (const char* param : {", userhash=true", ", userhash=\"true\"", ", UserHash=TRUE"}) {
    Creds c = fresh();
    AuthResult r = verifyText(registerText({"Authorization: " + authorizationValue(c) + param}), kT0 + 1s);
    EXPECT_EQ(r.outcome, AuthOutcome::Rejected) << param;
    EXPECT_EQ(r.reason, "userhash not supported") << param;
  }
  Creds c = fresh();  // userhash=false is the plain username
  EXPECT_EQ(
      verifyText(registerText({"Authorization: " + authorizationValue(c) + ", userhash=false"}), kT0 + 1s).outcome,
      AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, WrongOpaqueIsRejectedAbsentOpaqueTolerated) {
  Creds c = fresh();
  c.opaque = "0123456789abcdef0123456789abcdef";
  AuthResult r = verifyCreds(c, kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Rejected);
  EXPECT_EQ(r.reason, "wrong opaque");
  c.opaque.reset();
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, MissingHa1ForTheAlgorithmIsRejected) {
  Creds c = fresh();
  c.algorithm = "SHA-256";
  CredentialLookup md5Only = [](std::string_view user, std::string_view realm) -> std::optional<Ha1Set> {
    return Ha1Set{computeHa1(DigestAlgorithm::Md5, user, realm, "secret"), "", ""};
  };
  std::string text = registerText({"Authorization: " + authorizationValue(c)});
  sip::Message msg;
  ASSERT_TRUE(sip::parseMessage(text, msg).ok());
  EXPECT_EQ(auth_.verify(msg, sip::HeaderId::Authorization, kRealm, "alice", md5Only, kT0 + 1s).outcome,
            AuthOutcome::Rejected);
}

TEST_F(AuthenticatorTest, UpperCaseHexIsAccepted) {
  Creds c = fresh();
  std::string response =
      computeResponse(DigestAlgorithm::Md5, computeHa1(DigestAlgorithm::Md5, "alice", kRealm, "secret"), "REGISTER",
                      c.uri, c.nonce, c.nc, c.cnonce, c.qop);
  for (char& ch : response) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  c.response = response;
  EXPECT_EQ(verifyCreds(c, kT0 + 1s).outcome, AuthOutcome::Authenticated);
  // And an upper-case HA1 from the credential store.
  c.response.reset();
  c.nc = "00000002";
  CredentialLookup upper = [](std::string_view user, std::string_view realm) -> std::optional<Ha1Set> {
    Ha1Set set = computeHa1Set(user, realm, "secret");
    for (char& ch : set.md5) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    return set;
  };
  std::string text = registerText({"Authorization: " + authorizationValue(c)});
  sip::Message msg;
  ASSERT_TRUE(sip::parseMessage(text, msg).ok());
  EXPECT_EQ(auth_.verify(msg, sip::HeaderId::Authorization, kRealm, "alice", upper, kT0 + 1s).outcome,
            AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorTest, QuotedPairsInUsernameAreResolved) {
  Creds c = fresh();
  c.username = "a\"b\\c";
  c.password = "Qx-9pass";
  AuthResult r = verifyCreds(c, kT0 + 1s, "a\"b\\c");
  EXPECT_EQ(r.outcome, AuthOutcome::Authenticated) << r.reason;
  EXPECT_EQ(r.user, "a\"b\\c");
}

TEST_F(AuthenticatorTest, NoAuthorizationHeaderMeansNoCredentials) {
  EXPECT_EQ(verifyText(registerText({}), kT0).outcome, AuthOutcome::NoCredentials);
}

TEST_F(AuthenticatorTest, NonDigestOrOtherRealmMeansNoCredentials) {
  Creds other = fresh();
  other.realm = "other.example.net";
  AuthResult r = verifyText(
      registerText({"Authorization: Basic YWxpY2U6c2VjcmV0",
                    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo",
                    "Authorization: " + authorizationValue(other)}),
      kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::NoCredentials);
}

TEST_F(AuthenticatorTest, RealmSelectsAmongSeveralHeaders) {
  Creds other = fresh();
  other.realm = "proxy.example.net";
  other.password = "irrelevant";
  Creds ours = fresh();
  AuthResult r =
      verifyText(registerText({"Authorization: Basic YWxpY2U6c2VjcmV0", "Authorization: " + authorizationValue(other),
                               "Authorization: " + authorizationValue(ours)}),
                 kT0 + 1s);
  EXPECT_EQ(r.outcome, AuthOutcome::Authenticated) << r.reason;
}

TEST_F(AuthenticatorTest, ProxyAuthorizationIsReadWhenAsked) {
  Creds c = fresh();
  std::string text = registerText({"Proxy-Authorization: " + authorizationValue(c)});
  EXPECT_EQ(verifyText(text, kT0 + 1s).outcome, AuthOutcome::NoCredentials);
  AuthResult r = verifyText(text, kT0 + 1s, "alice", sip::HeaderId::ProxyAuthorization);
  EXPECT_EQ(r.outcome, AuthOutcome::Authenticated) << r.reason;
  c.omitNonce = true;
  r = verifyText(registerText({"Proxy-Authorization: " + authorizationValue(c)}), kT0 + 1s, "alice",
                 sip::HeaderId::ProxyAuthorization);
  EXPECT_EQ(r.reason, "Bad Proxy-Authorization: missing nonce");
}

TEST_F(AuthenticatorTest, ChallengesListOfferedAlgorithmsWithOneNonce) {
  std::vector<std::string> challenges = auth_.challenges(kRealm, false, kT0);
  ASSERT_EQ(challenges.size(), 3u);
  const std::vector<std::string_view> expected = {"SHA-256", "MD5", "SHA-512-256"};
  std::string nonce;
  for (std::size_t i = 0; i < challenges.size(); ++i) {
    sip::AuthValue v;
    ASSERT_EQ(sip::parseAuth(challenges[i], v), nullptr) << challenges[i];
    EXPECT_TRUE(v.isDigest());
    EXPECT_EQ(v.realm, kRealm);
    EXPECT_EQ(v.algorithm, expected[i]);
    EXPECT_EQ(v.qop, "auth");
    EXPECT_EQ(v.opaque, auth_.nonces().opaque());
    EXPECT_TRUE(v.stale.empty());
    EXPECT_EQ(auth_.nonces().check(v.nonce, kT0), NonceService::Verdict::Valid);
    if (i == 0) nonce = std::string(v.nonce);
    EXPECT_EQ(v.nonce, nonce);
  }
  EXPECT_EQ(challenges[0], "Digest realm=\"example.com\", nonce=\"" + nonce + "\", opaque=\"" +
                               auth_.nonces().opaque() + "\", algorithm=SHA-256, qop=\"auth\"");
}

TEST_F(AuthenticatorTest, DefaultChallengesAreSha256ThenMd5AndCarryStale) {
  Authenticator defaults(AuthSettings{}, testSecret());
  std::vector<std::string> challenges = defaults.challenges(kRealm, true, kT0);
  ASSERT_EQ(challenges.size(), 2u);
  sip::AuthValue first;
  sip::AuthValue second;
  ASSERT_EQ(sip::parseAuth(challenges[0], first), nullptr);
  ASSERT_EQ(sip::parseAuth(challenges[1], second), nullptr);
  EXPECT_EQ(first.algorithm, "SHA-256");
  EXPECT_EQ(second.algorithm, "MD5");
  EXPECT_EQ(first.stale, "true");
  EXPECT_EQ(second.stale, "true");
  EXPECT_EQ(first.nonce, second.nonce);
}

TEST_F(AuthenticatorTest, ChallengeQuotesTheRealm) {
  std::vector<std::string> challenges = auth_.challenges("odd \"realm\"", false, kT0);
  sip::AuthValue v;
  ASSERT_EQ(sip::parseAuth(challenges[0], v), nullptr);
  EXPECT_EQ(v.realm, "odd \\\"realm\\\"");  // parseAuth keeps quoted-pairs escaped
}

TEST_F(AuthenticatorTest, ChallengeNonceAuthenticatesTheNextRequest) {
  // The full loop: 401 with challenges, the UA answers the first (SHA-256) one.
  std::vector<std::string> challenges = auth_.challenges(kRealm, false, kT0);
  sip::AuthValue v;
  ASSERT_EQ(sip::parseAuth(challenges[0], v), nullptr);
  Creds c;
  c.nonce = std::string(v.nonce);
  c.opaque = std::string(v.opaque);
  c.algorithm = std::string(v.algorithm);
  EXPECT_EQ(verifyCreds(c, kT0 + 2s).outcome, AuthOutcome::Authenticated);
}

TEST_F(AuthenticatorSmallTableTest, ANonceOvertakenByLaterOnesIsStaleAndNeverAcceptedAgain) {
  // Four slots: the fourth nonce issued after `first` takes its slot.
  Creds first = fresh();
  EXPECT_EQ(verifyCreds(first, kT0 + 1s).outcome, AuthOutcome::Authenticated);
  Creds unused = fresh();  // the slot after first's, never answered
  std::vector<Creds> later;
  for (int i = 0; i < 2; ++i) later.push_back(fresh());
  Creds fourth = fresh();
  EXPECT_EQ(verifyCreds(first, kT0 + 2s).reason, "replayed nc");  // its slot still holds its count
  EXPECT_EQ(verifyCreds(fourth, kT0 + 3s).outcome, AuthOutcome::Authenticated);
  for (std::string nc : {"00000001", "00000002"}) {
    first.nc = nc;
    AuthResult r = verifyCreds(first, kT0 + 4s);
    EXPECT_EQ(r.outcome, AuthOutcome::Stale) << nc;  // asked again with stale=true, not let through
    EXPECT_EQ(r.reason, "nonce overtaken");
  }
  // The nonces in between are unaffected, and one whose slot is not yet taken still works.
  for (Creds& c : later) EXPECT_EQ(verifyCreds(c, kT0 + 5s).outcome, AuthOutcome::Authenticated);
  Creds fifth = fresh();  // unused's slot
  EXPECT_EQ(verifyCreds(fifth, kT0 + 6s).outcome, AuthOutcome::Authenticated);
  EXPECT_EQ(verifyCreds(unused, kT0 + 7s).outcome, AuthOutcome::Stale);
}

TEST_F(AuthenticatorTest, ConstructorRefusesBadSettings) {
  AuthSettings none;
  none.offered.clear();
  EXPECT_THROW(Authenticator(none, testSecret()), std::invalid_argument);
  EXPECT_THROW(Authenticator(AuthSettings{}, std::vector<std::uint8_t>(8, 1)), std::invalid_argument);
}

TEST(AuthenticatorUriPolicyTest, AlsoAcceptUriAdmitsTheServerItself) {
  // SIPp puts the server's address in the digest uri instead of the REGISTER's domain; the
  // server's policy accepts a uri naming itself, and nothing else.
  AuthSettings s;
  s.offered = {DigestAlgorithm::Md5};
  s.alsoAcceptUri = [](const sip::Uri& uri, const sip::Message&) { return uri.host == "127.0.0.1"; };
  Authenticator auth(s, testSecret());
  auto verify = [&](const std::string& uri) {
    Creds c;
    c.nonce = auth.nonces().issue(kT0);
    c.uri = uri;
    std::string text = registerText({"Authorization: " + authorizationValue(c)});
    sip::Message msg;
    EXPECT_TRUE(sip::parseMessage(text, msg).ok());
    auto lookup = [](std::string_view user, std::string_view realm) -> std::optional<Ha1Set> {
      return computeHa1Set(user, realm, "secret");
    };
    return auth.verify(msg, sip::HeaderId::Authorization, kRealm, "alice", lookup, kT0 + 1s).outcome;
  };
  EXPECT_EQ(verify("sip:127.0.0.1:5060"), AuthOutcome::Authenticated);
  EXPECT_EQ(verify(std::string(kRequestUri)), AuthOutcome::Authenticated);
  EXPECT_EQ(verify("sip:other.example.com"), AuthOutcome::Malformed);
}

}  // namespace
}  // namespace sipwarden::auth
