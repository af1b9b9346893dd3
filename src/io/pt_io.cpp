// .pt files: one tensor pickled as torch.save writes it, so that Python's torch.load opens it, and
// the run information in a record of its own.
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <ATen/core/Dict.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <torch/csrc/jit/serialization/storage_context.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "atomic_file.hpp"
#include "io_detail.hpp"
#include "phasegen/core/error.hpp"

namespace phasegen::detail {

namespace {

// Reading checks a .pt file before LibTorch's loader sees it, and hands the loader only what passed.
// The loader (LibTorch 1.13) trusts the file in ways a damaged one turns into crashes or memory use out
// of all proportion to its size:
//  - its zip reader copies whatever byte range miniz asks for, past the end of the file (BoundedReader);
//  - it allocates the size a zip record claims, and its unpickler the length a string claims and the
//    slot a memo entry claims (zip_records, check_pickle);
//  - its unpickler pops and indexes its stack without checking that the pickle pushed enough
//    (check_pickle follows the stack as Python's unpickler does);
//  - it sizes a tensor's storage by the element count in the pickle, not by the record holding the
//    data, and builds the tensor with sizes and strides it does not check against either (storages
//    are made here from the records; check_within_storage).

// The zip record of a .pt event file that holds its run information (as "key = value" lines).
constexpr const char* kRunRecord = "phasegen_run.txt";

// Why a file is refused; load_pt puts the file's name in front.
[[noreturn]] void refuse(const std::string& why) { throw std::runtime_error(why); }

// Hands miniz only the bytes there are; a read past the end comes back short, which miniz reports.
class BoundedReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, bytes_.size() - pos));
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::vector<char>& bytes_;
};

// Little-endian unsigned integer of `width` bytes at `pos` of `bytes`, which must hold them.
std::uint64_t number_at(const std::vector<char>& bytes, std::uint64_t pos, int width) {
  if (pos > bytes.size() || static_cast<std::uint64_t>(width) > bytes.size() - pos) {
    refuse("the zip archive points past the end of the file");
  }
  std::uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[pos + i]);
  return value;
}

struct ZipRecord {
  std::string name;
  std::uint64_t offset = 0;  // of the data in the file
  std::uint64_t size = 0;
};

// The records of the zip archive `bytes`, found the way miniz finds them: the end-of-directory record
// (and the zip64 one where there is one), the central directory, each record's local header. Every
// record must be stored uncompressed, as torch.save and LibTorch write them, and lie inside the file.
std::vector<ZipRecord> zip_records(const std::vector<char>& bytes) {
  constexpr std::uint64_t kEndSize = 22, kLocatorSize = 20, kZip64EndSize = 56, kCentralSize = 46,
                          kLocalSize = 30, kAll32 = 0xffffffffu;
  const std::uint64_t file_size = bytes.size();
  auto at = [&](std::uint64_t pos, int width) { return number_at(bytes, pos, width); };
  if (file_size < kEndSize) refuse("too short for a zip archive");
  std::uint64_t end = file_size - kEndSize;
  const std::uint64_t search_stop = end > 0xffff ? end - 0xffff : 0;
  while (at(end, 4) != 0x06054b50) {
    if (end == search_stop) refuse("not a zip archive (no end-of-directory record)");
    --end;
  }
  std::uint64_t entries = at(end + 10, 2), directory_size = at(end + 12, 4), directory = at(end + 16, 4);
  if (end >= kLocatorSize && at(end - kLocatorSize, 4) == 0x07064b50) {
    const std::uint64_t zip64_end = at(end - kLocatorSize + 8, 8);
    if (at(zip64_end, 4) != 0x06064b50) refuse("the zip64 end-of-directory record is missing");
    at(zip64_end + kZip64EndSize - 8, 8);  // the whole record is in the file
    const std::uint64_t entries64 = at(zip64_end + 32, 8), size64 = at(zip64_end + 40, 8),
                        directory64 = at(zip64_end + 48, 8);
    if ((entries != 0xffff && entries != entries64) || (directory_size != kAll32 && directory_size != size64) ||
        (directory != kAll32 && directory != directory64)) {
      refuse("the zip and zip64 end-of-directory records disagree");
    }
    entries = entries64, directory_size = size64, directory = directory64;
  }
  if (directory > file_size || directory_size > file_size - directory ||
      entries > directory_size / kCentralSize) {
    refuse("the zip central directory does not fit in the file");
  }
  std::vector<ZipRecord> records;
  std::uint64_t pos = directory;
  for (std::uint64_t i = 0; i < entries; ++i) {
    if (at(pos, 4) != 0x02014b50) refuse("a zip central directory entry is damaged");
    const std::uint64_t method = at(pos + 10, 2), name_size = at(pos + 28, 2), extra_size = at(pos + 30, 2),
                        comment_size = at(pos + 32, 2);
    std::uint64_t packed = at(pos + 20, 4), size = at(pos + 24, 4), local = at(pos + 42, 4);
    const std::uint64_t extra = pos + kCentralSize + name_size, next = extra + extra_size + comment_size;
    if (next > directory + directory_size) refuse("a zip central directory entry runs past the directory");
    // A zip64 extra field holds, in this order, those of the three that are all ones.
    for (std::uint64_t field = extra; field + 4 <= extra + extra_size; field += 4 + at(field + 2, 2)) {
      if (at(field, 2) != 1) continue;
      const std::uint64_t field_end = std::min(field + 4 + at(field + 2, 2), extra + extra_size);
      std::uint64_t value = field + 4;
      for (std::uint64_t* x : {&size, &packed, &local}) {
        if (*x == kAll32 && value + 8 <= field_end) *x = at(value, 8), value += 8;
      }
    }
    ZipRecord record;
    record.name.assign(bytes.data() + pos + kCentralSize, static_cast<std::size_t>(name_size));
    if (method != 0 || packed != size) {
      refuse("zip record '" + record.name + "' is compressed (expected stored records, as torch.save writes them)");
    }
    if (at(local, 4) != 0x04034b50) refuse("zip record '" + record.name + "' has no local header");
    record.offset = local + kLocalSize + at(local + 26, 2) + at(local + 28, 2);
    record.size = size;
    if (record.offset > file_size || size > file_size - record.offset) {
      refuse("zip record '" + record.name + "' (" + std::to_string(size) + " bytes) runs past the end of the file");
    }
    records.push_back(std::move(record));
    pos = next;
  }
  return records;
}

// Follows the pickle `data` opcode by opcode as Python's unpickler would, without building anything:
// every length and memo slot must fit in the pickle, and no opcode may take more from the stack than
// was pushed since the last mark.
void check_pickle(const char* data, std::uint64_t size) {
  std::uint64_t pos = 0;
  std::uint64_t depth = 0;            // items on the stack
  std::vector<std::uint64_t> marks;   // depth at each mark
  auto available = [&] { return depth - (marks.empty() ? 0 : marks.back()); };
  auto take = [&](std::uint64_t n, std::uint64_t push) {
    if (available() < n) refuse("the pickle takes more from its stack than it put there");
    depth += push;
    depth -= n;
  };
  auto to_mark = [&](std::uint64_t below, std::uint64_t push) {  // pops to the last mark
    if (marks.empty()) refuse("the pickle closes a mark it never set");
    const std::uint64_t items = depth - marks.back();
    depth = marks.back();
    marks.pop_back();
    take(below, below + push);
    return items;
  };
  auto argument = [&](std::uint64_t width) {
    if (width > size - pos) refuse("the pickle ends inside an opcode");
    std::uint64_t value = 0;
    for (std::uint64_t i = width; i-- > 0;) value = (value << 8) | static_cast<unsigned char>(data[pos + i]);
    pos += width;
    return value;
  };
  auto line = [&] {
    const void* newline = std::memchr(data + pos, '\n', static_cast<std::size_t>(size - pos));
    if (newline == nullptr) refuse("the pickle ends inside an opcode");
    const std::string text(data + pos, static_cast<const char*>(newline));
    pos += text.size() + 1;
    return text;
  };
  auto memo_slot = [&](std::uint64_t slot) {
    if (slot > size) refuse("the pickle stores into memo slot " + std::to_string(slot) + ", beyond its size");
    take(1, 1);
  };
  while (pos < size) {
    const auto op = static_cast<unsigned char>(data[pos++]);
    switch (op) {
      case '.': return;  // STOP
      case '(': marks.push_back(depth); break;  // MARK
      // Pushes with a length-prefixed argument: strings, bytes, long integers.
      case 'U': case 'C': case 0x8c: case 0x8a: case 'T': case 'B': case 'X': case 0x8b: case 0x8d: case 0x8e:
      case 0x96: {
        const std::uint64_t width = (op == 'U' || op == 'C' || op == 0x8c || op == 0x8a) ? 1
                                    : (op == 0x8d || op == 0x8e || op == 0x96)           ? 8
                                                                                          : 4;
        const std::uint64_t length = argument(width);
        if (length > size - pos) {
          refuse("a pickled string claims " + std::to_string(length) + " bytes, beyond the pickle");
        }
        pos += length;
        depth += 1;
        break;
      }
      // Pushes with a fixed-size or newline-ended argument, or none.
      case 'K': case 'h': case 0x82: argument(1), depth += 1; break;
      case 'M': case 0x83: argument(2), depth += 1; break;
      case 'J': case 'j': case 0x84: argument(4), depth += 1; break;
      case 'G': argument(8), depth += 1; break;
      case 'I': case 'L': case 'F': case 'S': case 'V': case 'g': case 'P': line(), depth += 1; break;
      case 'c': line(), line(), depth += 1; break;
      case 'N': case 0x88: case 0x89: case '}': case ']': case ')': case 0x8f: case 0x97: depth += 1; break;
      // Memo stores, which keep the stack as it is.
      case 'q': memo_slot(argument(1)); break;
      case 'r': memo_slot(argument(4)); break;
      case 'p': {  // PUT, with the slot in decimal
        const std::string slot = line();
        const bool decimal =
            !slot.empty() && slot.size() < 20 && slot.find_first_not_of("0123456789") == std::string::npos;
        memo_slot(decimal ? std::stoull(slot) : 0);
        break;
      }
      case 0x94: case 0x98: take(1, 1); break;  // MEMOIZE, READONLY_BUFFER
      case 0x80: argument(1); break;           // PROTO
      case 0x95: argument(8); break;           // FRAME
      // Stack operations.
      case '0': take(1, 0); break;                                      // POP
      case '2': take(1, 2); break;                                      // DUP
      case 'Q': case 0x85: take(1, 1); break;                           // BINPERSID, TUPLE1
      case 'a': case 'b': case 'R': case 0x81: case 0x86: case 0x93: take(2, 1); break;
      case 's': case 0x87: case 0x92: take(3, 1); break;                // SETITEM, TUPLE3, NEWOBJ_EX
      case '1': to_mark(0, 0); break;                                   // POP_MARK
      case 't': case 'l': case 0x91: case 'o': to_mark(0, 1); break;    // TUPLE, LIST, FROZENSET, OBJ
      case 'd':
        if (to_mark(0, 1) % 2 != 0) refuse("a pickled dict has a key without a value");
        break;
      case 'e': case 0x90: to_mark(1, 0); break;                        // APPENDS, ADDITEMS
      case 'u':                                                         // SETITEMS
        if (to_mark(1, 0) % 2 != 0) refuse("a pickled dict has a key without a value");
        break;
      case 'i': line(), line(), to_mark(0, 1); break;                   // INST
      default: refuse("the pickle holds an unknown opcode");
    }
  }
  refuse("the pickle ends without its STOP opcode");
}

// The IValue pickled in the .pt file `path`, which `kind` names in messages (".pt tensor file"), and the
// storages made from its records: LibTorch takes the storage of each tensor from these. The text of
// the run-information record, where the file has one, goes to `run_text`.
std::pair<c10::IValue, std::vector<c10::Storage>> load_pt(const std::string& path, const char* kind,
                                                          std::string* run_text = nullptr) {
  try {
    std::ifstream in(path, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::vector<ZipRecord> records = zip_records(bytes);
    if (records.empty()) refuse("the zip archive is empty");
    // LibTorch names the archive after the first record's folder, and looks records up ignoring case.
    const std::string archive = records.front().name.substr(0, records.front().name.find('/')) + "/";
    auto lower = [](std::string s) {
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
      return s;
    };
    auto storages = std::make_shared<torch::jit::DeserializationStorageContext>();
    std::vector<c10::Storage> made;
    for (const ZipRecord& record : records) {
      if (run_text && record.name == archive + kRunRecord) {
        run_text->assign(bytes.data() + record.offset, static_cast<std::size_t>(record.size));
      }
      if (lower(record.name) == lower(archive + "data.pkl")) {
        check_pickle(bytes.data() + record.offset, record.size);
      }
      const std::string data_folder = archive + "data/";
      if (record.name.compare(0, data_folder.size(), data_folder) != 0) continue;
      const std::string key = record.name.substr(data_folder.size());
      if (storages->hasStorage(key)) refuse("zip record '" + record.name + "' appears twice");
      const auto record_size = static_cast<std::size_t>(record.size);
      at::DataPtr data = at::getCPUAllocator()->allocate(record_size);
      if (record_size > 0) std::memcpy(data.get(), bytes.data() + record.offset, record_size);
      c10::Storage storage(c10::Storage::use_byte_size_t(), record_size, std::move(data), /*allocator=*/nullptr,
                           /*resizable=*/false);
      storages->addStorage(key, storage);
      made.push_back(std::move(storage));
    }
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(bytes));
    c10::IValue value = torch::jit::readArchiveAndTensors(
        "data", /*pickle_prefix=*/"", /*tensor_prefix=*/"", /*type_resolver=*/c10::nullopt,
        /*obj_loader=*/c10::nullopt, /*device=*/at::Device(at::kCPU), reader,
        torch::jit::Unpickler::defaultTypeParser, storages);
    return {std::move(value), std::move(made)};
  } catch (const std::exception& e) {
    std::string why = e.what();
    throw Error(concat("'", path, "' is not a readable ", kind, " (truncated or corrupt?): ",
                       why.substr(0, why.find('\n'))));
  }
}

// Throws unless `t` is a dense tensor on one of the storages `made` from the file's records, with every
// element inside it, and no more elements than the storage holds (a stride of 0 would let a small file
// stand for a huge tensor).
void check_within_storage(const at::Tensor& t, const std::vector<c10::Storage>& made, const std::string& what) {
  PHASEGEN_CHECK(t.layout() == at::kStrided && t.has_storage(), what, ": expected a dense tensor, but got layout ",
                 t.layout());
  const bool from_file = std::any_of(made.begin(), made.end(), [&](const c10::Storage& s) {
    return s.unsafeGetStorageImpl() == t.storage().unsafeGetStorageImpl();
  });
  // Only an empty tensor may have a storage of LibTorch's making, which is sized by the pickle.
  PHASEGEN_CHECK(from_file || t.numel() == 0, what, ": the tensor's data is not one of the file's records");
  const auto capacity = from_file ? static_cast<std::int64_t>(t.storage().nbytes() / t.dtype().itemsize()) : 0;
  std::int64_t last = t.storage_offset();
  std::int64_t numel = 1;
  bool fits = last >= 0;
  for (std::int64_t d = 0; d < t.dim() && fits; ++d) {
    const std::int64_t size = t.size(d), stride = t.stride(d);
    std::int64_t reach = 0;
    fits = size >= 0 && stride >= 0 && !__builtin_mul_overflow(size > 0 ? size - 1 : 0, stride, &reach) &&
           !__builtin_add_overflow(last, reach, &last) && !__builtin_mul_overflow(numel, size, &numel);
  }
  fits = fits && numel <= capacity && (numel == 0 || last < capacity);
  PHASEGEN_CHECK(fits, what, ": the tensor's sizes ", t.sizes(), ", strides ", t.strides(), " and offset ",
                 t.storage_offset(), " do not fit its storage of ", capacity, " elements");
}

// The bytes torch.save writes for `value` (a zip of the pickle and its tensors' storages, as
// torch::jit::pickle_save makes them), with the run information as one more record, which
// Python's torch.load passes over.
std::vector<char> pt_archive(const c10::IValue& value, const std::string& run_text) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* data, std::size_t size) { pickle.insert(pickle.end(), data, data + size); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr, /*memoized_class_types=*/nullptr);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> bytes;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, std::size_t size) {
    const char* begin = static_cast<const char*>(data);
    bytes.insert(bytes.end(), begin, begin + size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeRecord(kRunRecord, run_text.data(), run_text.size());
  writer.writeEndOfFile();
  return bytes;
}

class PtWriter final : public FileEventWriter {
 public:
  PtWriter(const std::string& path, const WriterOptions& options) : FileEventWriter(path, options) {}

  void write_rows(const at::Tensor& events, const at::Tensor& weights) override {
    batches_.push_back(events);
    if (weights.defined()) weights_.push_back(weights);
    written_ += events.size(0);
  }

  void close() override {
    at::Tensor all = batches_.empty() ? at::empty({0, options_.particles, 4}, at::kDouble)
                                      : at::cat(batches_, 0);
    batches_.clear();
    c10::IValue value(all);
    if (options_.weights.mode != WeightInfo::Mode::kNone) {
      // Weighted: the dict {events, weights, cross_section = [value, error]} (Python: d = torch.load(path)).
      c10::Dict<std::string, at::Tensor> dict;
      dict.insert("events", all);
      dict.insert("weights", weights_.empty() ? at::empty({0}, at::kDouble) : at::cat(weights_));
      dict.insert("cross_section", at::tensor({options_.weights.cross_section, options_.weights.error}, at::kDouble));
      value = c10::IValue(dict);
    }
    const std::vector<char> bytes = pt_archive(value, run_info_to_text(options_.run));
    file_.stream().write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file_.commit();
  }

  void add_run_attribute(const std::string& key, const std::string& value) override {
    options_.run.attributes.emplace_back(key, value);
  }

 private:
  std::vector<at::Tensor> batches_;
  std::vector<at::Tensor> weights_;
};

}  // namespace

std::unique_ptr<EventWriter> open_pt_writer(const std::string& path, const WriterOptions& options) {
  return std::make_unique<PtWriter>(path, options);
}

RawEvents read_pt(const std::string& path) {
  std::string run_text;
  const auto [value, storages] = load_pt(path, ".pt tensor file", &run_text);
  at::Tensor t, weights;
  if (value.isGenericDict()) {
    // A weighted file: {events, weights[, cross_section]}.
    const auto dict = value.toGenericDict();
    const c10::IValue events_key("events"), weights_key("weights");
    PHASEGEN_CHECK(dict.contains(events_key) && dict.contains(weights_key) && dict.at(events_key).isTensor() &&
                       dict.at(weights_key).isTensor(),
                   "'", path, "': expected a tensor of events, or a dict with tensors 'events' and 'weights'");
    t = dict.at(events_key).toTensor();
    weights = dict.at(weights_key).toTensor();
    check_within_storage(weights, storages, "'" + path + "' weights");
    PHASEGEN_CHECK(weights.dim() == 1 && at::isFloatingType(weights.scalar_type()), "'", path,
                   "': expected floating-point weights of shape (n,), but got ", weights.sizes());
  } else {
    PHASEGEN_CHECK(value.isTensor(), "'", path, "': expected a tensor, but the file holds a ", value.tagKind());
    t = value.toTensor();
  }
  check_within_storage(t, storages, "'" + path + "'");
  PHASEGEN_CHECK(t.dim() == 3 && (t.size(2) == 4 || t.size(2) == 3), "'", path,
                 "': expected a tensor of shape (n, N, 4) with (E, px, py, pz) or (n, N, 3) with "
                 "3-momenta, but got ",
                 t.sizes());
  PHASEGEN_CHECK(at::isFloatingType(t.scalar_type()), "'", path,
                 "': expected a floating-point tensor, but got ", t.scalar_type());
  RawEvents raw;
  raw.single_precision = t.scalar_type() != at::kDouble;
  at::Tensor p = t.to(at::kCPU, at::kDouble);
  if (p.size(2) == 3) {
    // The paper's layout: massless 3-momenta, E = |p|.
    at::Tensor e = at::linalg_vector_norm(p, 2, {2}, true, c10::nullopt);
    p = at::cat({e, p}, 2);
  }
  raw.momenta = p.contiguous();
  if (!run_text.empty()) raw.run = run_info_from_text(run_text);
  if (weights.defined()) {
    raw.weights = weights.to(at::kCPU, at::kDouble);
    raw.weight_info = weight_info_from_run(raw.run);
  }
  return raw;
}

}  // namespace phasegen::detail

namespace phasegen {

void write_trajectory(const std::string& path, const Trajectory& trajectory) {
  PHASEGEN_CHECK(format_from_path(path) == EventFormat::kPt, "trajectory: expected a .pt file, but got '", path, "'");
  PHASEGEN_CHECK(trajectory.events.dim() == 4 && trajectory.events.size(3) == 4 && trajectory.steps.dim() == 1 &&
                     trajectory.steps.size(0) == trajectory.events.size(0),
                 "trajectory: expected steps [S] and events [S, n, N, 4], but got ", trajectory.steps.sizes(), " and ",
                 trajectory.events.sizes());
  detail::AtomicFile file(path);
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("steps", trajectory.steps.to(at::kCPU, at::kLong).contiguous());
  dict.insert("events", trajectory.events.to(at::kCPU, at::kDouble).contiguous());
  const std::vector<char> bytes = torch::jit::pickle_save(c10::IValue(dict));
  file.stream().write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.commit();
}

Trajectory read_trajectory(const std::string& path, const ReadOptions& options) {
  detail::check_readable(path);
  const auto [value, storages] = detail::load_pt(path, "trajectory file");
  PHASEGEN_CHECK(value.isGenericDict(), "'", path,
                 "': expected a trajectory dict {steps, events}, but the file holds a ", value.tagKind());
  const auto dict = value.toGenericDict();
  const c10::IValue steps("steps"), events("events");
  PHASEGEN_CHECK(dict.contains(steps) && dict.contains(events) && dict.at(steps).isTensor() &&
                     dict.at(events).isTensor(),
                 "'", path, "': expected a trajectory dict with tensors 'steps' and 'events'");
  Trajectory t;
  t.steps = dict.at(steps).toTensor();
  t.events = dict.at(events).toTensor();
  detail::check_within_storage(t.steps, storages, "'" + path + "' steps");
  detail::check_within_storage(t.events, storages, "'" + path + "' events");
  PHASEGEN_CHECK(t.events.dim() == 4 && t.events.size(3) == 4 && t.steps.dim() == 1 &&
                     t.steps.size(0) == t.events.size(0),
                 "'", path, "': expected steps [S] and events [S, n, N, 4], but got ", t.steps.sizes(), " and ",
                 t.events.sizes());
  PHASEGEN_CHECK(at::isIntegralType(t.steps.scalar_type(), /*includeBool=*/false) &&
                     at::isFloatingType(t.events.scalar_type()),
                 "'", path, "': expected integer steps and floating-point events, but got ", t.steps.scalar_type(),
                 " and ", t.events.scalar_type());
  PHASEGEN_CHECK(t.events.size(0) > 0 && t.events.size(1) > 0, "'", path, "' holds no states");
  double sqrt_s = t.events[0][0].select(1, 0).sum().item<double>();
  if (!options.require_conservation) {
    sqrt_s = options.sqrt_s > 0 ? options.sqrt_s : t.events.select(3, 0).sum(2).mean().item<double>();
  }
  for (std::int64_t k = 0; k < t.events.size(0); ++k) {
    validate_events(t.events[k], sqrt_s, options.tolerance,
                    detail::concat("'", path, "' state ", k + 1, " (step ", t.steps[k].item<std::int64_t>(), ")"),
                    options.require_conservation);
  }
  return t;
}

}  // namespace phasegen
