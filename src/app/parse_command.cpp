// `sipwarden parse`: checks SIP messages and shows how the message layer understands them.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "app/commands.hpp"
#include "sip/parser.hpp"
#include "sip/serializer.hpp"
#include "sip/stream_framer.hpp"

namespace sipwarden::app {
namespace {

using namespace sipwarden::sip;

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

void describe(const Message& m, const ParseError& err, bool wire) {
  if (m.isRequest()) {
    std::cout << "request   " << printable(m.methodText()) << " " << printable(m.requestUriText()) << "\n";
  } else {
    std::cout << "response  " << m.statusCode() << " " << printable(m.reason()) << "\n";
  }
  if (m.hasVia()) {
    const Via& v = m.topVia();
    std::cout << "via       " << m.viaCount() << " value(s); top " << printable(v.transport) << " "
              << printable(v.host);
    if (v.hasPort) std::cout << ":" << v.port;
    if (v.branch) std::cout << " branch=" << printable(*v.branch) << (v.isRfc3261Branch() ? "" : " (RFC 2543)");
    std::cout << "\n";
  }
  if (!m.from().raw.empty()) {
    std::cout << "from      " << printable(m.from().uri.raw) << " tag=" << printable(m.from().tag().value_or(""))
              << "\n";
  }
  if (!m.to().raw.empty()) {
    std::cout << "to        " << printable(m.to().uri.raw) << " tag=" << printable(m.to().tag().value_or("")) << "\n";
  }
  if (!m.callId().empty()) std::cout << "call-id   " << printable(m.callId()) << "\n";
  if (m.cseq().number != 0 || !m.cseq().methodText.empty()) {
    std::cout << "cseq      " << m.cseq().number << " " << printable(m.cseq().methodText) << "\n";
  }
  if (m.maxForwards()) std::cout << "max-fwd   " << *m.maxForwards() << "\n";
  for (const Contact& c : m.contacts()) {
    std::cout << "contact   " << (c.star ? "*" : printable(c.address.uri.raw));
    if (c.expires) std::cout << " expires=" << *c.expires;
    if (c.qThousandths >= 0) std::cout << " q=" << c.qThousandths / 1000.0;
    std::cout << "\n";
  }
  std::cout << "headers   " << m.headers().size() << ", body " << m.body().size() << " bytes\n";
  if (err) {
    std::cout << "error     " << err.status() << " " << err.reasonPhrase() << "\n";
  } else {
    std::cout << "valid\n";
  }
  if (wire) std::cout << "--- wire ---\n" << toWire(m) << "\n--- end ---\n";
}

bool readInput(const std::string& path, std::string& out) {
  if (path == "-") {
    out.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

}  // namespace

int cmdParse(const std::vector<std::string>& files, bool stream, bool wire) {
  int rc = 0;
  for (const std::string& f : files) {
    std::string bytes;
    if (!readInput(f, bytes)) {
      std::cerr << "sipwarden parse: cannot read '" << f << "'\n";
      return 2;
    }
    std::cout << "== " << f << "\n";
    if (!stream) {
      Message m;
      ParseError err = parseMessage(bytes, m);
      describe(m, err, wire);
      if (err) rc = 1;
      continue;
    }
    StreamFramer framer;
    framer.feed(bytes);
    while (true) {
      Message m;
      StreamFramer::Result r = framer.next(m);
      if (r.status == StreamFramer::Status::NeedMore) {
        if (framer.buffered() != 0) {
          std::cout << "incomplete: " << framer.buffered() << " bytes left without a whole message\n";
          rc = 1;
        }
        break;
      }
      if (r.status == StreamFramer::Status::KeepAlive) {
        std::cout << "keep-alive (CRLF CRLF ping)\n";
        continue;
      }
      if (r.status == StreamFramer::Status::Fatal) {
        std::cout << "stream error: " << r.error.status() << " " << r.error.reasonPhrase() << "\n";
        rc = 1;
        break;
      }
      describe(m, r.error, wire);
      if (r.error) rc = 1;
    }
  }
  return rc;
}

}  // namespace sipwarden::app
