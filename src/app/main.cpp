// sipwarden command line. Until the server lands (issue: the server), the binary offers what the
// message layer can do: `sipwarden parse` checks SIP messages and shows how they are understood.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "sip/parser.hpp"
#include "sip/serializer.hpp"
#include "sip/stream_framer.hpp"

namespace {

using namespace sipwarden::sip;

constexpr std::string_view kUsage =
    "usage: sipwarden <command> [options]\n"
    "\n"
    "commands:\n"
    "  parse [--stream] [--wire] FILE...   parse SIP messages (FILE '-' reads standard input)\n"
    "                                      and show the start line, typed headers and any error\n"
    "                                      with the status a server would answer\n"
    "      --stream   frame the input as a TCP/TLS byte stream (several messages, CRLF keep-alives)\n"
    "      --wire     also print each message re-serialized\n"
    "  version                             print the version\n"
    "  help                                print this text\n";

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

int cmdParse(const std::vector<std::string>& args) {
  bool stream = false;
  bool wire = false;
  std::vector<std::string> files;
  for (const std::string& a : args) {
    if (a == "--stream") {
      stream = true;
    } else if (a == "--wire") {
      wire = true;
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      std::cerr << "sipwarden parse: unknown option '" << a << "' (expected --stream or --wire)\n";
      return 2;
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) {
    std::cerr << "sipwarden parse: no input; give one or more files, or '-' for standard input\n";
    return 2;
  }
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "sipwarden " << SIPWARDEN_VERSION << "\n";
    return 0;
  }
  if (args[0] == "parse") return cmdParse({args.begin() + 1, args.end()});
  std::cerr << "sipwarden: unknown command '" << args[0] << "'\n\n" << kUsage;
  return 2;
}
