// A file written under a temporary name beside its target and renamed into place when done.
#pragma once

#include <fstream>
#include <string>

namespace phasegen::detail {

class AtomicFile {
 public:
  /// Opens `<dir>/.<name>.tmp-<pid>-<n>` for writing; throws phasegen::Error naming `path`
  /// if it cannot be created. A `path` that is (or links to) a device or a named pipe, such as
  /// /dev/null or /dev/full, is written in place instead (there is nothing to rename onto).
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  /// Removes the temporary file unless commit() succeeded.
  ~AtomicFile();

  std::ofstream& stream() { return stream_; }
  const std::string& path() const { return path_; }

  /// Flushes, closes, checks every write went through and renames onto the target.
  void commit();

 private:
  std::string path_;
  bool direct_ = false;  ///< written in place: a device or pipe
  std::string temp_path_;
  std::ofstream stream_;
  bool committed_ = false;
};

/// Last `bytes` bytes of a file (fewer if it is shorter); throws if it cannot be read.
std::string file_tail(const std::string& path, std::size_t bytes);

/// Throws phasegen::Error unless `path` names a readable regular file.
void check_readable(const std::string& path);

}  // namespace phasegen::detail
