// Session descriptions for the SDP and media-policy tests: examples from the RFCs and offers in
// the shape browsers and phones send them. Written with '\n'; crlf() turns them into wire form.
#pragma once

#include <string>
#include <string_view>

namespace sipwarden::testing {

/// Every LF becomes CRLF (the SDP line end of RFC 8866 §5).
inline std::string crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

/// RFC 4317 §2.1: Alice's audio and video offer, plain RTP (note the empty "s=").
inline constexpr std::string_view kRfc4317PlainOffer =
    "v=0\n"
    "o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\n"
    "s=\n"
    "c=IN IP4 host.atlanta.example.com\n"
    "t=0 0\n"
    "m=audio 49170 RTP/AVP 0 8 97\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:97 iLBC/8000\n"
    "m=video 51372 RTP/AVP 31 32\n"
    "a=rtpmap:31 H261/90000\n"
    "a=rtpmap:32 MPV/90000\n";

/// RFC 4568 §3: the SDES offer (its a=crypto line unwrapped).
inline constexpr std::string_view kRfc4568SdesOffer =
    "v=0\n"
    "o=sam 2890844526 2890842807 IN IP4 10.47.16.5\n"
    "s=SRTP Discussion\n"
    "i=A discussion of Secure RTP\n"
    "u=http://www.example.com/seminars/srtp.pdf\n"
    "e=marge@example.com (Marge Simpson)\n"
    "c=IN IP4 168.2.17.12\n"
    "t=2873397496 2873404696\n"
    "m=audio 49170 RTP/SAVP 0\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP\n";

/// A desk phone's SDES offer: RTP/SAVP audio with two crypto suites, telephone-event.
inline constexpr std::string_view kDeskPhoneSdesOffer =
    "v=0\n"
    "o=- 20518 0 IN IP4 192.0.2.40\n"
    "s=SDP data\n"
    "c=IN IP4 192.0.2.40\n"
    "t=0 0\n"
    "m=audio 11780 RTP/SAVP 9 0 8 101\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000\n"
    "a=fmtp:101 0-15\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:Qm9ndXNLZXlGb3JUZXN0aW5nT25seTEyMzQ1Njc4\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:QW5vdGhlckJvZ3VzS2V5Rm9yVGVzdGluZzEyMzQ1\n"
    "a=ptime:20\n"
    "a=sendrecv\n";

/// A Chrome offer with audio, video and a data channel: UDP/TLS/RTP/SAVPF and UDP/DTLS/SCTP in one
/// BUNDLE group, a=fingerprint repeated in every media section (Chrome's shape; abridged codecs).
inline constexpr std::string_view kChromeOffer =
    "v=0\n"
    "o=- 3868347395735524871 2 IN IP4 127.0.0.1\n"
    "s=-\n"
    "t=0 0\n"
    "a=group:BUNDLE 0 1 2\n"
    "a=extmap-allow-mixed\n"
    "a=msid-semantic: WMS 4f1c2a8e-6f0b-4b7e-9a51-0d3c2b1a9e77\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\n"
    "c=IN IP4 0.0.0.0\n"
    "a=rtcp:9 IN IP4 0.0.0.0\n"
    "a=candidate:3348148302 1 udp 2122260223 192.0.2.23 54400 typ host generation 0 network-id 1\n"
    "a=ice-ufrag:Hx3f\n"
    "a=ice-pwd:Qm2vYhZ2tGw8zD6Jw3kJxJ0L\n"
    "a=ice-options:trickle\n"
    "a=fingerprint:sha-256 "
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\n"
    "a=setup:actpass\n"
    "a=mid:0\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
    "a=sendrecv\n"
    "a=msid:4f1c2a8e-6f0b-4b7e-9a51-0d3c2b1a9e77 5d6e7f80-1a2b-4c3d-8e9f-a0b1c2d3e4f5\n"
    "a=rtcp-mux\n"
    "a=rtpmap:111 opus/48000/2\n"
    "a=rtcp-fb:111 transport-cc\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\n"
    "a=rtpmap:63 red/48000/2\n"
    "a=fmtp:63 111/111\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:13 CN/8000\n"
    "a=rtpmap:110 telephone-event/48000\n"
    "a=rtpmap:126 telephone-event/8000\n"
    "a=ssrc:2970196441 cname:k1JPYGxbh3SkT6jP\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\n"
    "c=IN IP4 0.0.0.0\n"
    "a=rtcp:9 IN IP4 0.0.0.0\n"
    "a=ice-ufrag:Hx3f\n"
    "a=ice-pwd:Qm2vYhZ2tGw8zD6Jw3kJxJ0L\n"
    "a=ice-options:trickle\n"
    "a=fingerprint:sha-256 "
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\n"
    "a=setup:actpass\n"
    "a=mid:1\n"
    "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\n"
    "a=sendrecv\n"
    "a=rtcp-mux\n"
    "a=rtcp-rsize\n"
    "a=rtpmap:96 VP8/90000\n"
    "a=rtcp-fb:96 goog-remb\n"
    "a=rtcp-fb:96 nack pli\n"
    "a=rtpmap:97 rtx/90000\n"
    "a=fmtp:97 apt=96\n"
    "a=rtpmap:102 H264/90000\n"
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\n"
    "a=rtpmap:103 rtx/90000\n"
    "a=fmtp:103 apt=102\n"
    "a=ssrc-group:FID 1893422061 3187622215\n"
    "a=ssrc:1893422061 cname:k1JPYGxbh3SkT6jP\n"
    "a=ssrc:3187622215 cname:k1JPYGxbh3SkT6jP\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"
    "c=IN IP4 0.0.0.0\n"
    "a=ice-ufrag:Hx3f\n"
    "a=ice-pwd:Qm2vYhZ2tGw8zD6Jw3kJxJ0L\n"
    "a=ice-options:trickle\n"
    "a=fingerprint:sha-256 "
    "7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\n"
    "a=setup:actpass\n"
    "a=mid:2\n"
    "a=sctp-port:5000\n"
    "a=max-message-size:262144\n";

/// A Firefox offer with audio, video and a data channel: one session-level a=fingerprint that
/// covers every media section (Firefox's shape; abridged codecs).
inline constexpr std::string_view kFirefoxOffer =
    "v=0\n"
    "o=mozilla...THIS_IS_SDPARTA-115.0 6542312398461285392 0 IN IP4 0.0.0.0\n"
    "s=-\n"
    "t=0 0\n"
    "a=fingerprint:sha-256 "
    "A2:6E:36:0C:45:7B:D6:0A:3F:9B:CE:3D:B1:53:70:0C:94:5B:11:0F:25:86:92:08:66:8F:9E:C3:44:2B:7F:6D\n"
    "a=group:BUNDLE 0 1 2\n"
    "a=ice-options:trickle\n"
    "a=msid-semantic:WMS *\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101\n"
    "c=IN IP4 0.0.0.0\n"
    "a=sendrecv\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\n"
    "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1\n"
    "a=fmtp:101 0-15\n"
    "a=ice-pwd:d5a6a0d1e3cf86bd2a3f0c76d6b3e9a1\n"
    "a=ice-ufrag:86b1a2f3\n"
    "a=mid:0\n"
    "a=msid:{a5e3f7c2-0d4b-4f7e-9c1a-2b3c4d5e6f70} {0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e}\n"
    "a=rtcp-mux\n"
    "a=rtpmap:109 opus/48000/2\n"
    "a=rtpmap:9 G722/8000/1\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n"
    "a=rtpmap:101 telephone-event/8000/1\n"
    "a=setup:actpass\n"
    "a=ssrc:2655508255 cname:{6f8c4a1e-3b2d-4c5e-9f0a-1b2c3d4e5f60}\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125\n"
    "c=IN IP4 0.0.0.0\n"
    "a=sendrecv\n"
    "a=fmtp:120 max-fs=12288;max-fr=60\n"
    "a=fmtp:124 apt=120\n"
    "a=fmtp:121 max-fs=12288;max-fr=60\n"
    "a=fmtp:125 apt=121\n"
    "a=ice-pwd:d5a6a0d1e3cf86bd2a3f0c76d6b3e9a1\n"
    "a=ice-ufrag:86b1a2f3\n"
    "a=mid:1\n"
    "a=rtcp-fb:120 nack\n"
    "a=rtcp-fb:120 nack pli\n"
    "a=rtcp-mux\n"
    "a=rtcp-rsize\n"
    "a=rtpmap:120 VP8/90000\n"
    "a=rtpmap:124 rtx/90000\n"
    "a=rtpmap:121 VP9/90000\n"
    "a=rtpmap:125 rtx/90000\n"
    "a=setup:actpass\n"
    "a=ssrc:1212904839 cname:{6f8c4a1e-3b2d-4c5e-9f0a-1b2c3d4e5f60}\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"
    "c=IN IP4 0.0.0.0\n"
    "a=sendrecv\n"
    "a=ice-pwd:d5a6a0d1e3cf86bd2a3f0c76d6b3e9a1\n"
    "a=ice-ufrag:86b1a2f3\n"
    "a=mid:2\n"
    "a=setup:actpass\n"
    "a=sctp-port:5000\n"
    "a=max-message-size:1073741823\n";

/// SDES audio and plain video in one offer: the second m= line is not protected.
inline constexpr std::string_view kMixedOffer =
    "v=0\n"
    "o=carol 28908764872 28908764872 IN IP4 192.0.2.7\n"
    "s=-\n"
    "c=IN IP4 192.0.2.7\n"
    "t=0 0\n"
    "m=audio 49172 RTP/SAVP 0\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\n"
    "m=video 49174 RTP/AVP 31\n"
    "a=rtpmap:31 H261/90000\n";

/// An answer that accepts the SDES audio and rejects a plain video stream with port 0
/// (RFC 3264 §6).
inline constexpr std::string_view kAnswerWithRejectedVideo =
    "v=0\n"
    "o=bob 2808844564 2808844564 IN IP4 192.0.2.9\n"
    "s=-\n"
    "c=IN IP4 192.0.2.9\n"
    "t=0 0\n"
    "m=audio 49920 RTP/SAVP 0\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4\n"
    "m=video 0 RTP/AVP 31\n";

/// RTP/SAVP without any a=crypto (an offer that cannot key its SRTP).
inline constexpr std::string_view kSavpWithoutCrypto =
    "v=0\n"
    "o=dave 1 1 IN IP4 192.0.2.11\n"
    "s=-\n"
    "c=IN IP4 192.0.2.11\n"
    "t=0 0\n"
    "m=audio 30000 RTP/SAVP 0 8\n"
    "a=rtpmap:0 PCMU/8000\n"
    "a=rtpmap:8 PCMA/8000\n";

}  // namespace sipwarden::testing
