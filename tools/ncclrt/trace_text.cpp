#include "trace_text.hpp"

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <new>

namespace ncclrt_tool {
namespace {

// The length of the well-formed UTF-8 character at the start of `s` (0: ill-formed).
std::size_t utf8_char(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // a surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// printf into a std::string, whatever the length.
void appendf(std::string& out, const char* format, ...) __attribute__((format(printf, 2, 3)));
void appendf(std::string& out, const char* format, ...) {
  va_list a;
  va_start(a, format);
  va_list b;
  va_copy(b, a);
  const int n = std::vsnprintf(nullptr, 0, format, a);
  va_end(a);
  if (n > 0) {
    const std::size_t at = out.size();
    out.resize(at + static_cast<std::size_t>(n) + 1);
    std::vsnprintf(&out[at], static_cast<std::size_t>(n) + 1, format, b);
    out.resize(at + static_cast<std::size_t>(n));
  }
  va_end(b);
}

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string clock_text(std::int64_t unix_ns) {
  const std::time_t s = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char b[96];
  std::snprintf(b, sizeof b, "%04d-%02d-%02d %02d:%02d:%02d.%06lld UTC", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>((unix_ns % 1000000000) / 1000));
  return b;
}

}  // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_char(text.substr(i));
    const auto c = static_cast<unsigned char>(text[i]);
    // C0 controls, DEL, and the C1 controls (U+0080..U+009F: 0xC2 0x80..0x9F) a terminal obeys.
    const bool control =
        n == 1 ? (c < 0x20 || c == 0x7F)
               : n == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if (n == 0 || control) {
      out += '?';
      i += n == 0 ? 1 : n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string_view utf8_prefix(std::string_view text, std::size_t n) {
  if (text.size() <= n) return text;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

std::string why_text(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return "out of memory (reading a dump takes about 3 times its size)";
  }
  return e.what();
}

double seconds_between(std::int64_t from_ns, std::int64_t to_ns) {
  std::int64_t d = 0;
  if (!__builtin_sub_overflow(to_ns, from_ns, &d)) return static_cast<double>(d) / 1e9;
  return (static_cast<double>(to_ns) - static_cast<double>(from_ns)) / 1e9;
}

std::string dump_text(const DumpFile& d, std::size_t last) {
  const auto p = [](const std::string& s) { return printable(s); };
  std::string out;
  appendf(out, "%s\n", p(d.path).c_str());
  appendf(out, "communicator %s, rank %d of %d on GPU %d, NCCL %s (%s)\n", d.comm_id.c_str(),
          d.rank, d.size, d.device, p(d.nccl).c_str(), p(d.lineage).c_str());
  appendf(out, "process %lld on %s, ncclrt %s; dumped %s on %s%s%s\n",
          static_cast<long long>(d.pid), p(d.host).c_str(), p(d.ncclrt).c_str(),
          clock_text(d.dump_time_ns).c_str(), p(d.trigger).c_str(), d.reason.empty() ? "" : ": ",
          p(d.reason).c_str());
  appendf(out, "%llu records (%zu kept, ring of %llu); %llu collectives, %llu point-to-point\n",
          static_cast<unsigned long long>(d.records), d.entries.size(),
          static_cast<unsigned long long>(d.capacity),
          static_cast<unsigned long long>(d.collectives),
          static_cast<unsigned long long>(d.point_to_point));
  if (d.progress) {
    appendf(out,
            "GPU progress: collectives started #%llu, completed #%llu; point-to-point started "
            "#%llu, completed #%llu\n",
            static_cast<unsigned long long>(d.progress->started),
            static_cast<unsigned long long>(d.progress->completed),
            static_cast<unsigned long long>(d.progress->p2p_started),
            static_cast<unsigned long long>(d.progress->p2p_completed));
    for (const DumpGraph& g : d.progress->graphs) {
      appendf(out, "CUDA graph %llu: collectives #%llu-#%llu, replay began %llu time(s)\n",
              static_cast<unsigned long long>(g.capture_id),
              static_cast<unsigned long long>(g.first_seq),
              static_cast<unsigned long long>(g.last_seq),
              static_cast<unsigned long long>(g.launches));
    }
  } else {
    appendf(out, "GPU progress: not recorded%s%s\n", d.progress_problem.empty() ? "" : ": ",
            p(d.progress_problem).c_str());
  }
  for (const auto& n : d.notes) appendf(out, "note: %s\n", p(n).c_str());
  appendf(out, "%8s %6s %10s  %-18s %10s %-9s %-5s %4s %-14s %-14s %6s %s\n", "record", "seq",
          "age (s)", "op", "count", "type", "redop", "peer", "send", "recv", "result",
          "label / notes");
  const std::size_t from = last && last < d.entries.size() ? d.entries.size() - last : 0;
  for (std::size_t i = from; i < d.entries.size(); ++i) {
    const DumpEntry& e = d.entries[i];
    std::string extra = p(e.label);
    if (e.group)
      extra += (extra.empty() ? "" : " ") + std::string("group ") + std::to_string(e.group);
    if (e.captured && *e.captured)
      extra += (extra.empty() ? "" : " ") + std::string("captured ") + std::to_string(e.capture_id);
    const std::string result = e.result ? std::to_string(*e.result) : "-";
    appendf(out, "%8llu %6llu %10.3f  %-18s %10llu %-9s %-5s %4d %-14s %-14s %6s %s\n",
            static_cast<unsigned long long>(e.record), static_cast<unsigned long long>(e.seq),
            seconds_between(e.time_ns, d.dump_time_ns), e.op.c_str(),
            static_cast<unsigned long long>(e.count), e.type.empty() ? "-" : p(e.type).c_str(),
            e.redop.empty() ? "-" : p(e.redop).c_str(), e.peer, hex(e.send).c_str(),
            hex(e.recv).c_str(), result.c_str(), extra.c_str());
  }
  appendf(out, "(result - : NCCL had not returned; -2: ncclrt gave up on the call)\n");
  return out;
}

}  // namespace ncclrt_tool
