// phasegen merge: the shard files of one sharded sampling run (sample --shard i/n) joined into one
// file, in shard order, with the run information of the whole run.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <tuple>

#include "cli_support.hpp"
#include "commands.hpp"
#include "output_set.hpp"
#include "phasegen/core/error.hpp"
#include "phasegen/io/event_io.hpp"

namespace phasegen::cli {

namespace {

struct MergeFlags {
  std::vector<std::string> shards;
  std::vector<std::string> outputs;
};

// Attributes that differ from shard to shard; every other one must agree.
const std::set<std::string> kPerShard = {"shard", "shard_events", "shard_seed", "workers"};

struct ShardFile {
  std::string path;
  std::int64_t index = 0, count = 0, events = 0, particles = 0;
  EventSet header;  // everything but the momenta
};

std::string attribute(const RunInfo& run, const std::string& key) {
  for (const auto& [k, v] : run.attributes) {
    if (k == key) return v;
  }
  return "";
}

std::int64_t whole_number(const std::string& text, const std::string& what, const std::string& path) {
  const std::optional<std::int64_t> value = to_int(text);
  PHASEGEN_CHECK(value && *value >= 0, "'", path, "': its run information has ", what, " = '", text,
                 "', not a whole number");
  return *value;
}

ShardFile read_shard(const std::string& path) {
  ShardFile shard;
  shard.path = path;
  EventSet set = read_events(path);
  const RunInfo& run = set.run;
  const std::string position = attribute(run, "shard");
  PHASEGEN_CHECK(!position.empty(), "'", path, "' is not a shard of a sampling run: its run information has no 'shard' ",
                 "entry (", format_from_path(path) == EventFormat::kPt && run.description.empty()
                                ? "a .pt file written before phasegen kept run information in .pt files"
                                : "written by phasegen sample --shard i/n",
                 ")");
  const auto index_count = shard_position(position);
  PHASEGEN_CHECK(index_count, "'", path, "': its run information has shard = '", position,
                 "', not i/n with 1 <= i <= n");
  std::tie(shard.index, shard.count) = *index_count;
  shard.events = set.momenta.size(0);
  shard.particles = set.momenta.size(1);
  PHASEGEN_CHECK(whole_number(attribute(run, "shard_events"), "shard_events", path) == shard.events, "'", path,
                 "' holds ", shard.events, " events, but its run information says ", attribute(run, "shard_events"),
                 " (a damaged or edited shard?)");
  set.momenta = at::Tensor();
  shard.header = std::move(set);
  return shard;
}

// The attributes every shard of the run must share.
std::map<std::string, std::string> common_attributes(const RunInfo& run) {
  std::map<std::string, std::string> common;
  for (const auto& [k, v] : run.attributes) {
    if (!kPerShard.count(k)) common[k] = v;
  }
  return common;
}

// The first difference between two shards' descriptions of the run ("" when they agree).
std::string difference(const ShardFile& a, const ShardFile& b) {
  const RunInfo &x = a.header.run, &y = b.header.run;
  if (x.description != y.description) return "description";
  if (x.seed != y.seed) return "seed";
  if (x.version != y.version || x.commit != y.commit) return "phasegen version or commit";
  if (a.particles != b.particles) return "particle count";
  if (std::abs(a.header.sqrt_s - b.header.sqrt_s) > 1e-9 * a.header.sqrt_s) return "sqrt_s";
  if (a.header.pdg_ids != b.header.pdg_ids) return "PDG ids";
  const std::map<std::string, std::string> ax = common_attributes(x), by = common_attributes(y);
  for (const auto& [k, v] : ax) {
    auto it = by.find(k);
    if (it == by.end() || it->second != v) return "'" + k + "'";
  }
  for (const auto& [k, v] : by) {
    if (!ax.count(k)) return "'" + k + "'";
  }
  return "";
}

std::string joined(const std::vector<ShardFile>& shards, const std::string& key) {
  std::string text;
  for (const auto& s : shards) text += (text.empty() ? "" : " ") + attribute(s.header.run, key);
  return text;
}

void run_merge(const MergeFlags& f) {
  PHASEGEN_CHECK(!f.outputs.empty(), "--out: expected at least one output file (.pt, .hepmc3, .lhe)");
  for (const auto& path : f.outputs) {
    format_from_path(path);
    PHASEGEN_CHECK(std::find(f.shards.begin(), f.shards.end(), path) == f.shards.end(), "--out '", path,
                   "' is one of the shards");
  }
  // First pass: every shard is read and validated, its run information kept.
  std::vector<ShardFile> shards;
  for (const auto& path : f.shards) shards.push_back(read_shard(path));
  std::sort(shards.begin(), shards.end(), [](const ShardFile& a, const ShardFile& b) { return a.index < b.index; });
  const ShardFile& first = shards.front();
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const ShardFile& s = shards[i];
    PHASEGEN_CHECK(s.count == first.count, "'", s.path, "' is a shard of ", s.count, ", but '", first.path,
                   "' of ", first.count);
    PHASEGEN_CHECK(i == 0 || s.index != shards[i - 1].index, "shard ", s.index, "/", s.count, " is given twice: '",
                   shards[i - 1].path, "' and '", s.path, "'");
    const std::string differs = difference(first, s);
    PHASEGEN_CHECK(differs.empty(), "'", s.path, "' is not of the same run as '", first.path, "': its ", differs,
                   " differs");
  }
  std::set<std::int64_t> present;
  for (const auto& s : shards) present.insert(s.index);
  std::string missing;
  for (std::int64_t i = 1; i <= first.count; ++i) {
    if (!present.count(i)) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
  }
  PHASEGEN_CHECK(missing.empty(), "shard", missing.find(',') == std::string::npos ? " " : "s ", missing, " of ",
                 first.count, " missing: a merged file holds the whole run");
  std::int64_t total = 0;
  for (const auto& s : shards) total += s.events;
  const std::string declared = attribute(first.header.run, "events");
  PHASEGEN_CHECK(whole_number(declared, "events", first.path) == total, "the shards hold ", total,
                 " events, but the run was of ", declared);

  // The whole run's information: the shards' common entries, then what each shard had of its own.
  WriterOptions wopts;
  wopts.particles = first.particles;
  wopts.sqrt_s = first.header.sqrt_s;
  wopts.pdg_ids = first.header.pdg_ids;
  wopts.run = make_run_info(first.header.run.description);
  wopts.run.seed = first.header.run.seed;
  for (const auto& [k, v] : first.header.run.attributes) {
    if (!kPerShard.count(k)) wopts.run.attributes.emplace_back(k, v);
  }
  std::string files;
  for (const auto& s : shards) files += (files.empty() ? "" : " ") + s.path;
  wopts.run.attributes.insert(wopts.run.attributes.end(),
                              {{"merged_shards", std::to_string(first.count)},
                               {"shard_files", files},
                               {"shard_events", joined(shards, "shard_events")},
                               {"shard_seeds", joined(shards, "shard_seed")},
                               {"shard_workers", joined(shards, "workers")},
                               {"shards_written_by", "phasegen " + first.header.run.version + " (" +
                                                         first.header.run.commit + ")"}});
  // Second pass: the events, shard by shard, into every output (written under temporary names).
  OutputSet outputs(f.outputs, wopts);
  ProgressBar bar("merge", total, "events");
  std::int64_t done = 0;
  for (const auto& s : shards) {
    check_interrupt(detail::concat("interrupted after ", done, " events; no output was written"));
    outputs.write(read_events(s.path).momenta);
    done += s.events;
    bar.update(done);
  }
  outputs.close();
  bar.finish();
  std::cout << "phasegen merge: " << total << " events from " << shards.size() << " shards of '"
            << attribute(first.header.run, "checkpoint") << "', seed "
            << (first.header.run.seed ? std::to_string(*first.header.run.seed) : std::string("none")) << "\n";
  print_exactness(std::cout, outputs);
  outputs.print_written(std::cout);
}

}  // namespace

void add_merge_command(CLI::App& app) {
  auto f = std::make_shared<MergeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "merge", "Join the shard files of a sharded sampling run (sample --shard i/n) into one, with the run's information");
  cmd->add_option("shards", f->shards, "The shard files (.pt, .hepmc3, .lhe; any order, every shard once)")
      ->required();
  cmd->add_option("-o,--out", f->outputs, "Output file(s): .pt, .hepmc3 (.hepmc), .lhe")->required();
  cmd->callback([f] { run_merge(*f); });
}

}  // namespace phasegen::cli
