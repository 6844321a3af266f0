// libFuzzer target: the stream framer. The first bytes choose chunk sizes; the rest is the
// stream. Property: the sequence of framing results does not depend on how the stream is split
// into reads (one read, the chosen chunks, or one byte at a time).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sip/stream_framer.hpp"

using namespace sipwarden::sip;

namespace {

struct Event {
  StreamFramer::Status status;
  ParseErrorKind kind;
  std::string callId;
  std::size_t bodySize;
  bool operator==(const Event&) const = default;
};

void drain(StreamFramer& f, Message& m, std::vector<Event>& out) {
  while (out.size() < 10000) {
    StreamFramer::Result r = f.next(m);
    if (r.status == StreamFramer::Status::NeedMore) return;
    out.push_back(Event{r.status, r.error.kind, std::string(m.callId()), m.body().size()});
    if (r.status == StreamFramer::Status::Fatal) return;
  }
}

std::vector<Event> run(std::string_view stream, std::string_view sizes, const Limits& limits) {
  StreamFramer f(limits);
  Message m;  // reused, as a connection does
  std::vector<Event> events;
  std::size_t pos = 0;
  std::size_t k = 0;
  while (pos < stream.size()) {
    std::size_t n = sizes.empty() ? stream.size() : 1 + static_cast<unsigned char>(sizes[k++ % sizes.size()]) % 64;
    f.feed(stream.substr(pos, n));
    pos += n;
    drain(f, m, events);
    if (!events.empty() && events.back().status == StreamFramer::Status::Fatal) break;
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::size_t nSizes = 1 + data[0] % 8;
  if (size < 1 + nSizes) return 0;
  std::string_view sizes(reinterpret_cast<const char*>(data) + 1, nSizes);
  std::string_view stream(reinterpret_cast<const char*>(data) + 1 + nSizes, size - 1 - nSizes);

  // Line limit equal to the size limit, so that the order of discovery cannot change the verdict.
  Limits limits;
  limits.maxMessageSize = 4096;
  limits.maxLineLength = 4096;
  std::vector<Event> whole = run(stream, {}, limits);
  std::vector<Event> chunked = run(stream, sizes, limits);
  if (whole != chunked) __builtin_trap();
  if (stream.size() <= 512) {  // one byte per read is slow; short streams cover its paths
    std::vector<Event> bytes = run(stream, std::string_view("\0", 1), limits);
    if (whole != bytes) __builtin_trap();
  }

  // Default limits, no property: must not crash or leak.
  (void)run(stream, sizes, Limits{});
  return 0;
}
