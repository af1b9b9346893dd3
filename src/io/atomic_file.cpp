#include "atomic_file.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"

namespace phasegen::detail {

namespace {

std::string temp_name_for(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  std::filesystem::path target(path);
  std::string name = "." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter++);
  return (target.parent_path() / name).string();
}

// Whether `path` exists and is (or links to) something other than a regular file or directory: a
// device such as /dev/null or /dev/full, a named pipe, a socket.
bool is_special(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  return !ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status) &&
         !std::filesystem::is_directory(status);
}

}  // namespace

AtomicFile::AtomicFile(std::string path)
    : path_(std::move(path)), direct_(is_special(path_)), temp_path_(direct_ ? path_ : temp_name_for(path_)) {
  std::error_code ec;
  PHASEGEN_CHECK(!std::filesystem::is_directory(path_, ec), "cannot write '", path_,
                 "': it is a directory");
  errno = 0;
  // A device or pipe is written in place: it cannot be renamed onto, and holds no partial file.
  stream_.open(temp_path_, direct_ ? std::ios::binary : std::ios::binary | std::ios::trunc);
  PHASEGEN_CHECK(stream_.is_open(), "cannot write '", path_, "': ",
                 errno ? std::strerror(errno) : "the file cannot be created");
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (stream_.is_open()) stream_.close();
  if (!direct_) std::remove(temp_path_.c_str());
}

void AtomicFile::commit() {
  // Where a write already failed (a full disk while the format library wrote), errno still holds
  // its cause: no call since has failed, or the stream would not have stopped there.
  const int earlier_errno = stream_.fail() ? errno : 0;
  errno = 0;
  // A format library may have closed the stream itself (HepMC3 does); its state still tells
  // whether every write and the close went through.
  if (stream_.is_open()) {
    stream_.flush();
    stream_.close();
  }
  const int write_errno = errno != 0 ? errno : earlier_errno;
  PHASEGEN_CHECK(!stream_.fail(), "writing '", path_, "' failed: ",
                 write_errno ? std::strerror(write_errno) : "an I/O error (disk full?)");
  PHASEGEN_CHECK(direct_ || std::rename(temp_path_.c_str(), path_.c_str()) == 0,
                 "cannot move the finished file to '", path_, "': ", std::strerror(errno));
  committed_ = true;
}

std::string file_tail(const std::string& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  PHASEGEN_CHECK(in.is_open(), "cannot read '", path, "'");
  const std::streamoff size = in.tellg();
  const std::streamoff start = size > static_cast<std::streamoff>(bytes) ? size - bytes : 0;
  in.seekg(start);
  std::string tail(static_cast<std::size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  return tail;
}

void check_readable(const std::string& path) {
  std::error_code ec;
  PHASEGEN_CHECK(std::filesystem::exists(path, ec), "cannot read '", path, "': no such file");
  PHASEGEN_CHECK(std::filesystem::is_regular_file(path, ec), "cannot read '", path,
                 "': not a regular file");
  std::ifstream in(path, std::ios::binary);
  PHASEGEN_CHECK(in.is_open(), "cannot read '", path, "': permission denied");
}

}  // namespace phasegen::detail

namespace phasegen {

void write_text_file(const std::string& path, const std::string& text) {
  detail::AtomicFile file(path);
  file.stream() << text;
  file.commit();
}

}  // namespace phasegen
