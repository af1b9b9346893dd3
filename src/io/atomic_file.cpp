#include "atomic_file.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "phasegen/error.hpp"
#include "phasegen/event_io.hpp"

namespace phasegen::detail {

namespace {

std::string temp_name_for(const std::string& path) {
  static std::atomic<unsigned> counter{0};
  std::filesystem::path target(path);
  std::string name = "." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter++);
  return (target.parent_path() / name).string();
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), temp_path_(temp_name_for(path_)) {
  std::error_code ec;
  PHASEGEN_CHECK(!std::filesystem::is_directory(path_, ec), "cannot write '", path_,
                 "': it is a directory");
  errno = 0;
  stream_.open(temp_path_, std::ios::binary | std::ios::trunc);
  PHASEGEN_CHECK(stream_.is_open(), "cannot write '", path_, "': ",
                 errno ? std::strerror(errno) : "the file cannot be created");
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (stream_.is_open()) stream_.close();
  std::remove(temp_path_.c_str());
}

void AtomicFile::commit() {
  errno = 0;
  // A format library may have closed the stream itself (HepMC3 does); its state still tells
  // whether every write and the close went through.
  if (stream_.is_open()) {
    stream_.flush();
    stream_.close();
  }
  const int write_errno = errno;
  PHASEGEN_CHECK(!stream_.fail(), "writing '", path_, "' failed: ",
                 write_errno ? std::strerror(write_errno) : "an I/O error (disk full?)");
  PHASEGEN_CHECK(std::rename(temp_path_.c_str(), path_.c_str()) == 0, "cannot move the finished file to '",
                 path_, "': ", std::strerror(errno));
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
