// Shared by the tls unit tests: a temporary directory and a fixed "now".
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tls/utc_time.hpp"

namespace sipwarden::tls::test {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;
using Days = std::chrono::days;

/// Tests run on a fixed date so that every validity is relative to it (and far from the real one).
inline Clock::time_point fixedNow() { return *parseUtc("2031-03-15T12:00:00Z"); }

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sipwarden-tls-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline unsigned fileMode(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

}  // namespace sipwarden::tls::test
