// Security modes and the signalling rule (every mode × arrival × departure transport), the
// gateway allow-list (RFC 6125 §6.4 name matching), and SecurityPolicy built from settings.
#include "security/security_policy.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "sdp_samples.hpp"

namespace sipwarden::security {
namespace {

using transport::TransportKind;

constexpr SecurityMode kModes[] = {SecurityMode::Unsecured, SecurityMode::SipSecured, SecurityMode::Secured};
constexpr TransportKind kTransports[] = {TransportKind::Udp, TransportKind::Tcp, TransportKind::Tls, TransportKind::Ws,
                                         TransportKind::Wss};

bool isReasonPhrase(std::string_view s) {
  static const std::regex kGrammar(R"(^([A-Za-z0-9;/?:@&=+$,\-_.!~*'() \t]|%[0-9A-Fa-f]{2})*$)");
  return std::regex_match(std::string(s), kGrammar);
}

TEST(SecurityModeTest, NamesRoundTrip) {
  for (SecurityMode m : kModes) {
    SecurityMode parsed = SecurityMode::Unsecured;
    ASSERT_TRUE(parseSecurityMode(securityModeName(m), parsed)) << securityModeName(m);
    EXPECT_EQ(parsed, m);
  }
  EXPECT_EQ(securityModeName(SecurityMode::Unsecured), "unsecured");
  EXPECT_EQ(securityModeName(SecurityMode::SipSecured), "sip-secured");
  EXPECT_EQ(securityModeName(SecurityMode::Secured), "secured");
  SecurityMode m = SecurityMode::Secured;
  EXPECT_TRUE(parseSecurityMode("SIP-Secured", m));
  EXPECT_EQ(m, SecurityMode::SipSecured);
  for (std::string_view bad : {"", "sip_secured", "sipsecured", "secure", "tls", "secured "}) {
    SecurityMode out = SecurityMode::Secured;
    EXPECT_FALSE(parseSecurityMode(bad, out)) << bad;
    EXPECT_EQ(out, SecurityMode::Secured) << "unchanged on failure";
  }
}

TEST(SecurityModeTest, StricterAndEffective) {
  EXPECT_EQ(stricter(SecurityMode::Unsecured, SecurityMode::SipSecured), SecurityMode::SipSecured);
  EXPECT_EQ(stricter(SecurityMode::Secured, SecurityMode::SipSecured), SecurityMode::Secured);
  EXPECT_EQ(stricter(SecurityMode::Unsecured, SecurityMode::Unsecured), SecurityMode::Unsecured);
  EXPECT_EQ((DomainModes{SecurityMode::Unsecured, SecurityMode::Secured}.effective()), SecurityMode::Secured);
  EXPECT_EQ((DomainModes{SecurityMode::SipSecured, SecurityMode::Unsecured}.effective()), SecurityMode::SipSecured);
}

TEST(SecureTransportTest, OnlyTlsAndWss) {
  EXPECT_FALSE(isSecureTransport(TransportKind::Udp));
  EXPECT_FALSE(isSecureTransport(TransportKind::Tcp));
  EXPECT_TRUE(isSecureTransport(TransportKind::Tls));
  EXPECT_FALSE(isSecureTransport(TransportKind::Ws));
  EXPECT_TRUE(isSecureTransport(TransportKind::Wss));
}

// Every caller mode × callee mode × arrival transport × departure transport, against the rule
// written out independently: if either domain is not unsecured, both transports must be TLS/WSS.
TEST(SignallingPolicy, EveryModeAndTransportCombination) {
  int rejected = 0;
  int allowed = 0;
  for (SecurityMode caller : kModes) {
    for (SecurityMode callee : kModes) {
      const DomainModes modes{caller, callee};
      const bool strict = caller != SecurityMode::Unsecured || callee != SecurityMode::Unsecured;
      for (TransportKind in : kTransports) {
        const bool inOk = in == TransportKind::Tls || in == TransportKind::Wss;
        PolicyDecision a = checkArrival(modes, in);
        EXPECT_EQ(a.allowed(), !strict || inOk);
        for (TransportKind out : kTransports) {
          const bool outOk = out == TransportKind::Tls || out == TransportKind::Wss;
          PolicyDecision d = checkDeparture(modes, out);
          EXPECT_EQ(d.allowed(), !strict || outOk);
          PolicyDecision both = checkSignalling(modes, in, out);
          const bool expectAllowed = !strict || (inOk && outOk);
          EXPECT_EQ(both.allowed(), expectAllowed)
              << securityModeName(caller) << "/" << securityModeName(callee) << " in " << transport::transportName(in)
              << " out " << transport::transportName(out);
          if (expectAllowed) {
            ++allowed;
            EXPECT_EQ(both.status, 0);
            EXPECT_TRUE(both.reasonPhrase.empty());
          } else {
            ++rejected;
            EXPECT_EQ(both.status, 403);
            EXPECT_TRUE(isReasonPhrase(both.reasonPhrase)) << both.reasonPhrase;
            EXPECT_TRUE(both.warning.empty());
            // The arrival is judged first.
            EXPECT_EQ(both.reasonPhrase, inOk ? d.reasonPhrase : a.reasonPhrase);
          }
        }
      }
    }
  }
  // 1 unsecured pair × 25 + 8 strict pairs × 4 secure combinations.
  EXPECT_EQ(allowed, 25 + 8 * 4);
  EXPECT_EQ(rejected, 9 * 25 - allowed);
}

TEST(SignallingPolicy, ReasonPhrasesSayWhichDomainAndWhichLeg) {
  const DomainModes callerStrict{SecurityMode::SipSecured, SecurityMode::Unsecured};
  const DomainModes calleeStrict{SecurityMode::Unsecured, SecurityMode::Secured};
  const DomainModes both{SecurityMode::Secured, SecurityMode::SipSecured};

  EXPECT_EQ(checkArrival(callerStrict, TransportKind::Udp).reasonPhrase, "TLS Required By Caller Domain Security Mode");
  EXPECT_EQ(checkArrival(calleeStrict, TransportKind::Tcp).reasonPhrase, "TLS Required By Callee Domain Security Mode");
  EXPECT_EQ(checkArrival(both, TransportKind::Ws).reasonPhrase, "TLS Required By Caller Domain Security Mode");

  EXPECT_EQ(checkDeparture(callerStrict, TransportKind::Udp).reasonPhrase,
            "Callee Not Reachable Over TLS (Caller Domain Security Mode)");
  EXPECT_EQ(checkDeparture(calleeStrict, TransportKind::Ws).reasonPhrase,
            "Callee Not Reachable Over TLS (Callee Domain Security Mode)");
  EXPECT_EQ(checkDeparture(both, TransportKind::Tcp).reasonPhrase,
            "Callee Not Reachable Over TLS (Callee Domain Security Mode)");

  // A browser over WSS calling a phone registered over TLS, in a secured domain.
  EXPECT_TRUE(checkSignalling(both, TransportKind::Wss, TransportKind::Tls).allowed());
  // Unsecured domains: anything goes.
  EXPECT_TRUE(checkSignalling({}, TransportKind::Udp, TransportKind::Ws).allowed());
}

// ---- gateways ----

TEST(GatewayNames, Validation) {
  for (std::string_view good : {"gw1.example.com", "GW1.Example.COM", "gw-1.example.com.", "localhost", "*.example.com",
                                "*.trunk.example.net", "xn--bcher-kva.example"}) {
    EXPECT_EQ(validateGatewayName(good), nullptr) << good;
  }
  EXPECT_STREQ(validateGatewayName(""), "empty gateway name");
  EXPECT_STREQ(validateGatewayName("."), "empty gateway name");
  EXPECT_STREQ(validateGatewayName("*.com"), "a wildcard needs at least two labels after \"*.\"");
  EXPECT_STREQ(validateGatewayName("*"), "a wildcard may only be the whole left-most label");
  EXPECT_STREQ(validateGatewayName("gw*.example.com"), "a wildcard may only be the whole left-most label");
  EXPECT_STREQ(validateGatewayName("a.*.example.com"), "a wildcard may only be the whole left-most label");
  EXPECT_STREQ(validateGatewayName("*.*.example.com"), "a wildcard may only be the whole left-most label");
  EXPECT_STREQ(validateGatewayName("gw..example.com"), "gateway name is not a DNS host name");
  EXPECT_STREQ(validateGatewayName("-gw.example.com"), "gateway name is not a DNS host name");
  EXPECT_STREQ(validateGatewayName("gw_1.example.com"), "gateway name is not a DNS host name");
  EXPECT_STREQ(validateGatewayName("gw.example.com:5061"), "gateway name is not a DNS host name");
  EXPECT_STREQ(validateGatewayName(std::string(64, 'a') + ".example.com"), "gateway name is not a DNS host name");
  std::string longName;
  while (longName.size() < 254) longName += "abcdefgh.";
  EXPECT_STREQ(validateGatewayName(longName + "com"), "gateway name longer than 253 characters");
}

TEST(GatewayNames, ExactAndCaseInsensitive) {
  EXPECT_TRUE(gatewayNameMatches("gw1.example.com", "gw1.example.com"));
  EXPECT_TRUE(gatewayNameMatches("gw1.example.com", "GW1.EXAMPLE.COM"));  // RFC 6125 §6.4.1
  EXPECT_TRUE(gatewayNameMatches("Gw1.Example.Com", "gw1.example.com"));
  EXPECT_TRUE(gatewayNameMatches("gw1.example.com.", "gw1.example.com"));  // absolute form
  EXPECT_FALSE(gatewayNameMatches("gw1.example.com", "gw2.example.com"));
  EXPECT_FALSE(gatewayNameMatches("gw1.example.com", "gw1.example.com.evil.net"));
  EXPECT_FALSE(gatewayNameMatches("gw1.example.com", "xgw1.example.com"));
  EXPECT_FALSE(gatewayNameMatches("gw1.example.com", ""));
  // A NUL inside a certificate name is not a prefix match.
  EXPECT_FALSE(gatewayNameMatches("gw1.example.com", std::string("gw1.example.com\0.evil.net", 25)));
}

TEST(GatewayNames, WildcardIsOneWholeLeftMostLabel) {
  EXPECT_TRUE(gatewayNameMatches("*.example.com", "gw.example.com"));
  EXPECT_TRUE(gatewayNameMatches("*.example.com", "GW-2.Example.Com"));
  EXPECT_TRUE(gatewayNameMatches("*.EXAMPLE.com", "gw.example.COM."));
  EXPECT_FALSE(gatewayNameMatches("*.example.com", "a.b.example.com"));  // RFC 6125 §6.4.3: one label
  EXPECT_FALSE(gatewayNameMatches("*.example.com", "example.com"));
  EXPECT_FALSE(gatewayNameMatches("*.example.com", ".example.com"));
  EXPECT_FALSE(gatewayNameMatches("*.example.com", "gw.example.net"));
  EXPECT_FALSE(gatewayNameMatches("*.example.com", "gwexample.com"));
  // Invalid allow-list entries match nothing.
  EXPECT_FALSE(gatewayNameMatches("*.com", "example.com"));
  EXPECT_FALSE(gatewayNameMatches("gw*.example.com", "gw1.example.com"));
}

TEST(GatewayNames, WildcardInTheCertificate) {
  // A wildcard certificate does not say which host presents it: only the same wildcard admits it.
  EXPECT_TRUE(gatewayNameMatches("*.example.com", "*.example.com"));
  EXPECT_TRUE(gatewayNameMatches("*.example.com", "*.Example.COM"));
  EXPECT_FALSE(gatewayNameMatches("gw.example.com", "*.example.com"));
  EXPECT_FALSE(gatewayNameMatches("*.a.example.com", "*.example.com"));
  // Partial or embedded wildcards in certificates never match.
  EXPECT_FALSE(gatewayNameMatches("gw1.example.com", "gw*.example.com"));
  EXPECT_FALSE(gatewayNameMatches("*.example.com", "g*.example.com"));
}

TEST(GatewayAdmissionTest, DnsSanBeforeCommonName) {
  const std::vector<std::string> allow = {"pstn-gw.carrier.example", "*.trunks.example.net"};

  GatewayAdmission a = admitGateway(allow, std::vector<std::string>{"www.carrier.example", "PSTN-GW.carrier.example"},
                                    "ignored.example");
  EXPECT_TRUE(a.admitted);
  EXPECT_EQ(a.allowedName, "pstn-gw.carrier.example");
  EXPECT_EQ(a.presentedName, "PSTN-GW.carrier.example");
  EXPECT_FALSE(a.byCommonName);

  a = admitGateway(allow, std::vector<std::string>{"sbc3.trunks.example.net"}, "");
  EXPECT_TRUE(a.admitted);
  EXPECT_EQ(a.allowedName, "*.trunks.example.net");

  // RFC 6125 §6.4.4: with a DNS SAN present, the CN is not looked at even when it would match.
  a = admitGateway(allow, std::vector<std::string>{"other.example.org"}, "pstn-gw.carrier.example");
  EXPECT_FALSE(a.admitted);

  // No DNS SAN: the CN decides.
  a = admitGateway(allow, {}, "pstn-gw.carrier.example");
  EXPECT_TRUE(a.admitted);
  EXPECT_TRUE(a.byCommonName);
  EXPECT_EQ(a.presentedName, "pstn-gw.carrier.example");
  EXPECT_FALSE(admitGateway(allow, {}, "a.b.trunks.example.net").admitted);
  EXPECT_FALSE(admitGateway(allow, {}, "").admitted);
  // A CN that is not a host name (a person's name, say) admits nothing.
  EXPECT_FALSE(admitGateway(allow, {}, "PSTN Gateway").admitted);
  // An empty allow-list admits nobody.
  EXPECT_FALSE(admitGateway({}, std::vector<std::string>{"pstn-gw.carrier.example"}, "").admitted);
}

// ---- SecurityPolicy ----

SecuritySettings sampleSettings() {
  SecuritySettings s;
  s.domains = {{"Open.Example.com", SecurityMode::Unsecured},
               {"corp.example.com", SecurityMode::SipSecured},
               {"vault.example.com.", SecurityMode::Secured}};
  s.defaultMode = SecurityMode::Unsecured;
  s.gatewayNames = {"gw.carrier.example", "*.sbc.example.net"};
  s.warnAgent = "sip.example.com:5061";
  return s;
}

TEST(SecurityPolicyTest, ModeForDomain) {
  SecurityPolicy p(sampleSettings());
  EXPECT_EQ(p.modeFor("open.example.com"), SecurityMode::Unsecured);
  EXPECT_EQ(p.modeFor("corp.example.com"), SecurityMode::SipSecured);
  EXPECT_EQ(p.modeFor("CORP.EXAMPLE.COM"), SecurityMode::SipSecured);
  EXPECT_EQ(p.modeFor("vault.example.com"), SecurityMode::Secured);
  EXPECT_EQ(p.modeFor("vault.example.com."), SecurityMode::Secured);
  EXPECT_EQ(p.modeFor("example.com"), SecurityMode::Unsecured);
  EXPECT_EQ(p.modeFor("sub.corp.example.com"), SecurityMode::Unsecured);  // domains are not suffixes
  EXPECT_EQ(p.modeFor(""), SecurityMode::Unsecured);
  DomainModes m = p.modesFor("open.example.com", "Vault.Example.Com");
  EXPECT_EQ(m.caller, SecurityMode::Unsecured);
  EXPECT_EQ(m.callee, SecurityMode::Secured);

  SecuritySettings strictDefault = sampleSettings();
  strictDefault.defaultMode = SecurityMode::SipSecured;
  EXPECT_EQ(SecurityPolicy(strictDefault).modeFor("elsewhere.example.org"), SecurityMode::SipSecured);
  EXPECT_EQ(SecurityPolicy(strictDefault).modeFor("open.example.com"), SecurityMode::Unsecured);
}

TEST(SecurityPolicyTest, MediaUsesTheEffectiveModeAndTheConfiguredAgent) {
  SecurityPolicy p(sampleSettings());
  std::string plain = testing::crlf(testing::kRfc4317PlainOffer);
  EXPECT_TRUE(p.checkMedia(p.modesFor("open.example.com", "corp.example.com"), "application/sdp", plain).allowed());
  PolicyDecision d = p.checkMedia(p.modesFor("vault.example.com", "open.example.com"), "application/sdp", plain);
  EXPECT_EQ(d.status, 488);
  EXPECT_EQ(d.warning.rfind("302 sip.example.com:5061 \"Incompatible transport protocol: m= line 1", 0), 0u)
      << d.warning;

  SecuritySettings tight = sampleSettings();
  tight.sdpLimits.maxMedia = 1;
  d = SecurityPolicy(tight).checkMedia({SecurityMode::Secured, SecurityMode::Secured}, "application/sdp",
                                       testing::kChromeOffer);
  EXPECT_EQ(d.status, 400);
  EXPECT_EQ(d.reasonPhrase, "Malformed SDP: line 34: more m= lines than the limit");
}

TEST(SecurityPolicyTest, GatewaysFromSettings) {
  SecurityPolicy p(sampleSettings());
  EXPECT_TRUE(p.admitGateway(std::vector<std::string>{"gw.carrier.example"}, "").admitted);
  EXPECT_TRUE(p.admitGateway({}, "edge1.sbc.example.net").admitted);
  EXPECT_FALSE(p.admitGateway({}, "sbc.example.net").admitted);
  EXPECT_FALSE(p.admitGateway(std::vector<std::string>{"evil.example"}, "gw.carrier.example").admitted);
}

TEST(SecurityPolicyTest, RejectsBadSettingsAtStartUp) {
  SecuritySettings dup = sampleSettings();
  dup.domains.push_back({"CORP.example.com.", SecurityMode::Secured});
  EXPECT_THROW(SecurityPolicy{dup}, std::invalid_argument);

  SecuritySettings empty = sampleSettings();
  empty.domains.push_back({"", SecurityMode::Secured});
  EXPECT_THROW(SecurityPolicy{empty}, std::invalid_argument);

  SecuritySettings badGateway = sampleSettings();
  badGateway.gatewayNames.push_back("*.com");
  try {
    SecurityPolicy p(badGateway);
    ADD_FAILURE() << "accepted *.com";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "security policy: gateway name \"*.com\": a wildcard needs at least two labels after \"*.\"");
  }

  SecuritySettings badAgent = sampleSettings();
  badAgent.warnAgent = "proxy example";
  EXPECT_THROW(SecurityPolicy{badAgent}, std::invalid_argument);
  badAgent.warnAgent = "";
  EXPECT_THROW(SecurityPolicy{badAgent}, std::invalid_argument);

  EXPECT_NO_THROW(SecurityPolicy{SecuritySettings{}});
}

}  // namespace
}  // namespace sipwarden::security
