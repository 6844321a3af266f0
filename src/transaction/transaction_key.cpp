#include "transaction/transaction_key.hpp"

#include <charconv>

#include "sip/chars.hpp"

namespace sipwarden::transaction::detail {
namespace {

// Separates the fields of a key; no field of a parsed message contains it.
constexpr char kSep = '\x1f';
constexpr char kServer3261 = 'S';
constexpr char kServer2543 = 'R';
constexpr char kClient = 'C';

void appendLower(std::string& out, std::string_view s) {
  std::size_t at = out.size();
  out.resize(at + s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[at + i] = sip::chars::toLower(s[i]);
}

void appendNumber(std::string& out, std::uint32_t n) {
  char buf[12];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  (void)ec;
  out.append(buf, end);
}

}  // namespace

void serverKey(const sip::Message& request, std::string_view method, std::string_view toTag, std::string& out) {
  const sip::Via& via = request.topVia();
  out.clear();
  if (via.isRfc3261Branch()) {
    // §17.2.3: branch, sent-by and method (ACK matched as INVITE by the caller).
    out.push_back(kServer3261);
    out.append(method);
    out.push_back(kSep);
    appendLower(out, *via.branch);
    out.push_back(kSep);
    appendLower(out, via.host);
    if (via.hasPort) {
      out.push_back(':');
      appendNumber(out, via.port);
    }
    return;
  }
  // §17.2.3, second half: a request from an RFC 2543 element. The Request-URI is compared as
  // written: retransmissions, CANCEL (§9.1) and ACK (§17.1.1.3) copy it verbatim.
  out.push_back(kServer2543);
  out.append(method);
  out.push_back(kSep);
  out.append(request.requestUriText());
  out.push_back(kSep);
  appendLower(out, toTag);
  out.push_back(kSep);
  appendLower(out, request.from().tag().value_or(std::string_view()));
  out.push_back(kSep);
  out.append(request.callId());
  out.push_back(kSep);
  appendNumber(out, request.cseq().number);
  out.push_back(kSep);
  appendLower(out, via.raw);
}

void clientKey(std::string_view branch, std::string_view cseqMethod, std::string& out) {
  out.clear();
  out.push_back(kClient);
  out.append(cseqMethod);
  out.push_back(kSep);
  appendLower(out, branch);
}

bool isRfc2543Key(std::string_view key) { return !key.empty() && key.front() == kServer2543; }

}  // namespace sipwarden::transaction::detail
