// The four messages of the parser benchmark (issue 2), written the way softphones and registrars
// put them on the wire: CRLF line ends, Content-Length equal to the body size (checked at start-up
// by parser_bench before anything is timed). Each comes with what a correct parser must extract,
// so that every parser under test (sipwarden, libosip2, sofia-sip) is verified once before timing.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sipwarden::bench {

// A REGISTER with digest credentials (RFC 3261 §22.4, §10.2), as Linphone sends it after a 401.
// 925 bytes, body 0 bytes
inline constexpr std::string_view kRegisterWithDigest =
    "REGISTER sip:sip.example.org SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.34:5060;branch=z9hG4bK.Jh3VsUq8Z;rport\r\n"
    "From: <sip:alice@sip.example.org>;tag=Vt2HkY6Pz\r\n"
    "To: sip:alice@sip.example.org\r\n"
    "CSeq: 21 REGISTER\r\n"
    "Call-ID: 9vWg6ZtUPN-3a1f@192.168.1.34\r\n"
    "Max-Forwards: 70\r\n"
    "Supported: replaces, outbound, gruu, path\r\n"
    "Accept: application/sdp, text/plain, application/vnd.gsma.rcs-ft-http+xml\r\n"
    "Contact: "
    "<sip:alice@192.168.1.34:5060;transport=udp>;+sip.instance=\"<urn:uuid:5b3c64a2-8b2f-00c1-97f6-bd53b2f1a4d2>\";+"
    "org.linphone.specs=\"lime,groupchat/1.1\";expires=3600\r\n"
    "Expires: 3600\r\n"
    "User-Agent: Linphone-Desktop/5.2.4 (Ubuntu 22.04.3 LTS) LinphoneSDK/5.3.14\r\n"
    "Authorization: Digest realm=\"sip.example.org\", nonce=\"YxQ8mGPQ7kE3dXN1b2N1cGpVb3NoSGJtNnZ4\", algorithm=MD5, "
    "opaque=\"+GNywA==\", username=\"alice\", uri=\"sip:sip.example.org\", "
    "response=\"6d0f4a9b8e0b2b7cbf6a6b5dd8d3c12e\", cnonce=\"ZjBmYmVlNDM\", nc=00000001, qop=auth\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

// The registrar's 200 OK to that REGISTER, listing three bindings of the AOR in one Contact
// header (RFC 3261 §10.3 step 8), as Kamailio's registrar writes it.
// 822 bytes, body 0 bytes
inline constexpr std::string_view kRegister200ThreeContacts =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.168.1.34:5060;branch=z9hG4bK.Jh3VsUq8Z;rport=5060;received=203.0.113.17\r\n"
    "From: <sip:alice@sip.example.org>;tag=Vt2HkY6Pz\r\n"
    "To: sip:alice@sip.example.org;tag=1c4a8bba7d1a5c0e2bd1ef0f42b1f0e0.9f3c\r\n"
    "CSeq: 21 REGISTER\r\n"
    "Call-ID: 9vWg6ZtUPN-3a1f@192.168.1.34\r\n"
    "Contact: "
    "<sip:alice@192.168.1.34:5060;transport=udp>;expires=3600;+sip.instance=\"<urn:uuid:5b3c64a2-8b2f-00c1-97f6-"
    "bd53b2f1a4d2>\";+org.linphone.specs=\"lime,groupchat/1.1\";received=\"sip:203.0.113.17:5060\", "
    "<sip:alice@10.0.0.23:52144;transport=tls;ob>;expires=1732;+sip.instance=\"<urn:uuid:0f8e1c52-7d33-4a0b-9c61-"
    "2d5e8a7b4c19>\";reg-id=1, <sip:alice@198.51.100.9:5080;transport=tcp>;expires=418;q=0.5\r\n"
    "Server: kamailio (5.6.4 (x86_64/linux))\r\n"
    "Supported: outbound, gruu, path\r\n"
    "Date: Tue, 14 May 2024 09:21:05 GMT\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

// An INVITE with an SDP offer (RFC 3264), audio with ICE candidates.
// 1533 bytes, body 782 bytes
inline constexpr std::string_view kInviteWithSdp =
    "INVITE sip:bob@sip.example.org SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.34:5060;branch=z9hG4bK.fZ1b8yQ0e;rport\r\n"
    "From: \"Alice Liddell\" <sip:alice@sip.example.org>;tag=Ur9qP4Dnb\r\n"
    "To: <sip:bob@sip.example.org>\r\n"
    "CSeq: 20 INVITE\r\n"
    "Call-ID: 7xZ8kq3YpB-77e0@192.168.1.34\r\n"
    "Max-Forwards: 70\r\n"
    "Supported: replaces, outbound, gruu, 100rel, timer\r\n"
    "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, PRACK, UPDATE\r\n"
    "Content-Type: application/sdp\r\n"
    "Contact: "
    "<sip:alice@192.168.1.34:5060;transport=udp>;+sip.instance=\"<urn:uuid:5b3c64a2-8b2f-00c1-97f6-bd53b2f1a4d2>\";+"
    "org.linphone.specs=\"lime,groupchat/1.1\"\r\n"
    "Session-Expires: 1800\r\n"
    "Min-SE: 90\r\n"
    "User-Agent: Linphone-Desktop/5.2.4 (Ubuntu 22.04.3 LTS) LinphoneSDK/5.3.14\r\n"
    "Content-Length: 782\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 3724 1428 IN IP4 192.168.1.34\r\n"
    "s=Talk\r\n"
    "c=IN IP4 192.168.1.34\r\n"
    "t=0 0\r\n"
    "a=ice-pwd:3b4f8d2e6c7a9b1f0e5d4c3b\r\n"
    "a=ice-ufrag:7c1d9e2f\r\n"
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n"
    "m=audio 7078 RTP/AVP 96 97 0 8 101 100\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 useinbandfec=1\r\n"
    "a=rtpmap:97 speex/16000\r\n"
    "a=fmtp:97 vbr=on\r\n"
    "a=rtpmap:101 telephone-event/48000\r\n"
    "a=rtpmap:100 telephone-event/8000\r\n"
    "a=rtcp:7079\r\n"
    "a=candidate:1 1 UDP 2130706431 192.168.1.34 7078 typ host\r\n"
    "a=candidate:1 2 UDP 2130706430 192.168.1.34 7079 typ host\r\n"
    "a=candidate:2 1 UDP 1694498815 203.0.113.17 41230 typ srflx raddr 192.168.1.34 rport 7078\r\n"
    "a=candidate:2 2 UDP 1694498814 203.0.113.17 41231 typ srflx raddr 192.168.1.34 rport 7079\r\n"
    "a=rtcp-fb:* trr-int 1000\r\n"
    "a=rtcp-fb:* ccm tmmbr\r\n";

// A MESSAGE (RFC 3428) over TCP.
// 573 bytes, body 75 bytes
inline constexpr std::string_view kMessage =
    "MESSAGE sip:bob@sip.example.org SIP/2.0\r\n"
    "Via: SIP/2.0/TCP 192.168.1.34:49152;branch=z9hG4bK.c3Ds9hR2m;rport;alias\r\n"
    "From: \"Alice Liddell\" <sip:alice@sip.example.org>;tag=p2LqZk8vE\r\n"
    "To: <sip:bob@sip.example.org>\r\n"
    "CSeq: 22 MESSAGE\r\n"
    "Call-ID: Qm4Tz9rXcA-b21c@192.168.1.34\r\n"
    "Max-Forwards: 70\r\n"
    "Supported: replaces, outbound, gruu\r\n"
    "Date: Tue, 14 May 2024 09:21:07 GMT\r\n"
    "Content-Type: text/plain;charset=UTF-8\r\n"
    "User-Agent: Linphone-Desktop/5.2.4 (Ubuntu 22.04.3 LTS) LinphoneSDK/5.3.14\r\n"
    "Content-Length: 75\r\n"
    "\r\n"
    "Are we still on for lunch at 12:30? I booked the usual table by the window.";

/// What a correct parse of a benchmark message yields; parser_bench checks every parser against it.
struct BenchMessage {
  std::string_view name;  ///< short label used in benchmark names and the results table
  std::string_view text;  ///< the wire bytes
  std::string_view callId;
  std::uint32_t cseq;
  std::string_view cseqMethod;
  int status;            ///< 0 for a request
  std::size_t contacts;  ///< Contact values (list elements, not header lines)
  std::size_t bodySize;
  bool hasAuthorization;
};

inline constexpr std::array<BenchMessage, 4> kBenchMessages{{
    {"register_digest", kRegisterWithDigest, "9vWg6ZtUPN-3a1f@192.168.1.34", 21, "REGISTER", 0, 1, 0, true},
    {"200_register_3_contacts", kRegister200ThreeContacts, "9vWg6ZtUPN-3a1f@192.168.1.34", 21, "REGISTER", 200, 3, 0,
     false},
    {"invite_sdp", kInviteWithSdp, "7xZ8kq3YpB-77e0@192.168.1.34", 20, "INVITE", 0, 1, 782, false},
    {"message", kMessage, "Qm4Tz9rXcA-b21c@192.168.1.34", 22, "MESSAGE", 0, 0, 75, false},
}};

}  // namespace sipwarden::bench
