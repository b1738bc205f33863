#pragma once
// Configuration files for the tests that run `sluice --config FILE` and `sluice check FILE`:
// a fresh directory per test under the system's temporary directory, removed with everything in
// it when the test ends (pass or fail), and files written into it whole.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice::test {

class TempDir {
 public:
  // <tmp>/sluice-fleet-<pid>-<n>-<clock>: unique across the tests of this process (n) and across
  // processes running at once (pid), and not a leftover of an earlier run (clock).
  TempDir() {
    static std::atomic<unsigned> counter{0};
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
      const auto candidate =
          base / ("sluice-fleet-" + std::to_string(::getpid()) + "-" +
                  std::to_string(counter.fetch_add(1)) + "-" + std::to_string(ticks));
      std::error_code ec;
      // create_directory is false (no error) when the name exists: try another.
      if (std::filesystem::create_directory(candidate, ec)) {
        path_ = candidate;
        return;
      }
    }
    throw std::runtime_error("TempDir: cannot create a directory under " + base.string());
  }
  ~TempDir() {
    std::error_code ec;  // a destructor must not throw; a leftover is only litter
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `text` to <dir>/<name> and returns that path. The text goes to a scratch file first,
  // renamed over the target, so that sluice (reading at a SIGHUP) never sees half a file.
  std::filesystem::path write(std::string_view name, std::string_view text) const {
    const auto target = path_ / std::string(name);
    const auto scratch = path_ / (std::string(name) + ".writing");
    {
      std::ofstream out(scratch, std::ios::binary | std::ios::trunc);
      out.write(text.data(), static_cast<std::streamsize>(text.size()));
      out.flush();
      if (!out) throw std::runtime_error("TempDir: cannot write " + scratch.string());
    }
    std::filesystem::rename(scratch, target);
    return target;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace sluice::test
