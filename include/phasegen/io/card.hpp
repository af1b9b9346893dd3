// Run cards: one TOML table of typed settings per command, checked key by key.
//
//   phasegen::CardSection data("data", {{"target", phasegen::CardType::kString},
//                                       {"events", phasegen::CardType::kInt}});
//   data.set("events", std::int64_t{100000});     // built-in default
//   data.load("cards/muon.toml");                  // the card's [data] table overrides it
//   data.set("seed", std::int64_t{7});             // a flag overrides both
//   std::cout << data.to_toml();                   // the resolved card, as echoed into outputs
//
// An unknown key, a value of the wrong type or a TOML syntax error throws phasegen::Error naming
// the file, the line and the key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace phasegen {

enum class CardType { kInt, kFloat, kBool, kString };

struct CardField {
  std::string key;
  CardType type;
};

using CardValue = std::variant<std::int64_t, double, bool, std::string>;

class CardSection {
 public:
  CardSection(std::string name, std::vector<CardField> schema);

  /// Reads the table [name] of the TOML file at `path`; other tables are left to other commands.
  /// Returns whether the table was there; throws if it is missing and `required`.
  bool load(const std::string& path, bool required = true);
  /// The same from text; `source` names it in messages.
  bool load_string(const std::string& text, const std::string& source, bool required = true);

  /// Sets `key` (which must be in the schema, with a value of its type; an int is a valid float).
  void set(const std::string& key, CardValue value);
  /// Sets `key` from text as a flag gives it, parsed by the key's type; `flag` names it in errors.
  void set_text(const std::string& key, const std::string& text, const std::string& flag);
  bool has(const std::string& key) const;
  /// Whether `key` is in the table's schema (set or not).
  bool knows(const std::string& key) const;
  /// Forgets `key` (a setting that does not apply), so that the resolved card leaves it out.
  void erase(const std::string& key);

  std::int64_t get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;

  /// Where the card came from ("" if no file was loaded).
  const std::string& source() const { return source_; }
  /// The resolved values as a TOML table [name], keys in schema order; every number exact (a
  /// double as the shortest text that reads back to the same value, at most 17 significant digits).
  std::string to_toml() const;
  /// The values set, by key.
  const std::map<std::string, CardValue>& values() const { return values_; }

 private:
  const CardField& field(const std::string& key) const;
  const CardValue& value(const std::string& key) const;
  std::string name_;
  std::vector<CardField> schema_;
  std::map<std::string, CardValue> values_;
  std::string source_;
};

}  // namespace phasegen
