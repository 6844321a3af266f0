#include "sip/serializer.hpp"

#include <charconv>

namespace sipwarden::sip {

void serialize(const Message& m, std::string& out) {
  char len[24];
  auto [lenEnd, ec] = std::to_chars(len, len + sizeof len, m.body_.size());
  (void)ec;
  std::string_view lenText(len, static_cast<std::size_t>(lenEnd - len));

  std::size_t size = 64 + m.body_.size() + m.requestUriText_.size() + m.reason_.size();
  for (const HeaderField& h : m.headers_) size += h.name.size() + h.value.size() + 4;
  out.reserve(out.size() + size);

  if (m.isRequest_) {
    out.append(m.methodText_).append(" ").append(m.requestUriText_).append(" ").append(m.version_);
  } else {
    char code[4] = {static_cast<char>('0' + m.status_ / 100 % 10), static_cast<char>('0' + m.status_ / 10 % 10),
                    static_cast<char>('0' + m.status_ % 10), ' '};
    out.append(m.version_).append(" ").append(code, 4).append(m.reason_);
  }
  out.append("\r\n");
  bool wroteLength = false;
  for (const HeaderField& h : m.headers_) {
    out.append(h.name).append(": ");
    if (h.id == HeaderId::ContentLength) {
      if (wroteLength) {
        // A second Content-Length can only come from a message that failed to parse; never emit two.
        out.resize(out.size() - h.name.size() - 2);
        continue;
      }
      out.append(lenText);
      wroteLength = true;
    } else {
      out.append(h.value);
    }
    out.append("\r\n");
  }
  if (!wroteLength) out.append("Content-Length: ").append(lenText).append("\r\n");
  out.append("\r\n").append(m.body_);
}

std::string toWire(const Message& m) {
  std::string out;
  serialize(m, out);
  return out;
}

}  // namespace sipwarden::sip
