#include "phasegen/io/card.hpp"

#include <algorithm>

#include <toml++/toml.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "phasegen/core/error.hpp"

namespace phasegen {

namespace {

const char* type_name(CardType type) {
  switch (type) {
    case CardType::kInt: return "an integer";
    case CardType::kFloat: return "a number";
    case CardType::kBool: return "true or false";
    case CardType::kString: return "a string";
  }
  return "a value";
}

const char* node_type_name(const toml::node& node) {
  if (node.is_integer()) return "an integer";
  if (node.is_floating_point()) return "a floating-point number";
  if (node.is_boolean()) return "a boolean";
  if (node.is_string()) return "a string";
  if (node.is_table()) return "a table";
  if (node.is_array()) return "an array";
  return "a date or time";
}

// The shortest decimal text (at most 17 significant digits) that reads back to exactly `v`, as a
// TOML float.
std::string exact_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string text;
  for (int digits = 15; digits <= 17; ++digits) {
    std::ostringstream out;
    out.precision(digits);
    out << v;
    text = out.str();
    if (std::strtod(text.c_str(), nullptr) == v) break;
  }
  if (text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

std::string where(const std::string& source, const toml::node& node) {
  return detail::concat(source, ":", node.source().begin.line);
}

}  // namespace

CardSection::CardSection(std::string name, std::vector<CardField> schema)
    : name_(std::move(name)), schema_(std::move(schema)) {}

bool CardSection::load(const std::string& path, bool required) {
  std::ifstream in(path);
  PHASEGEN_CHECK(in.is_open(), "cannot read run card '", path, "'");
  std::stringstream text;
  text << in.rdbuf();
  return load_string(text.str(), path, required);
}

bool CardSection::load_string(const std::string& text, const std::string& source, bool required) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw Error(detail::concat(source, ":", e.source().begin.line, ": malformed run card: ", e.description()));
  }
  const toml::node* section = root.get(name_);
  if (section == nullptr && !required) return false;
  PHASEGEN_CHECK(section != nullptr, source, ": the run card has no [", name_, "] table");
  PHASEGEN_CHECK(section->is_table(), where(source, *section), ": expected [", name_, "] to be a table, but got ",
                 node_type_name(*section));
  for (auto&& [key, node] : *section->as_table()) {
    const std::string k(key.str());
    const CardField* f = nullptr;
    for (const auto& candidate : schema_) {
      if (candidate.key == k) f = &candidate;
    }
    if (f == nullptr) {
      std::string known;
      for (const auto& candidate : schema_) known += (known.empty() ? "" : ", ") + candidate.key;
      throw Error(detail::concat(where(source, node), ": unknown key '", k, "' in [", name_, "] (known keys: ", known,
                                 ")"));
    }
    const bool ok = (f->type == CardType::kInt && node.is_integer()) ||
                    (f->type == CardType::kFloat && (node.is_floating_point() || node.is_integer())) ||
                    (f->type == CardType::kBool && node.is_boolean()) ||
                    (f->type == CardType::kString && node.is_string());
    PHASEGEN_CHECK(ok, where(source, node), ": key '", k, "' in [", name_, "] expects ", type_name(f->type),
                   ", but got ", node_type_name(node));
    switch (f->type) {
      case CardType::kInt: values_[k] = node.value<std::int64_t>().value(); break;
      case CardType::kFloat: values_[k] = node.value<double>().value(); break;
      case CardType::kBool: values_[k] = node.value<bool>().value(); break;
      case CardType::kString: values_[k] = node.value<std::string>().value(); break;
    }
  }
  source_ = source;
  return true;
}

const CardField& CardSection::field(const std::string& key) const {
  for (const auto& f : schema_) {
    if (f.key == key) return f;
  }
  throw Error(detail::concat("run card [", name_, "]: no setting '", key, "'"));
}

bool CardSection::knows(const std::string& key) const {
  return std::any_of(schema_.begin(), schema_.end(), [&](const CardField& f) { return f.key == key; });
}

void CardSection::set(const std::string& key, CardValue value) {
  const CardField& f = field(key);
  if (f.type == CardType::kFloat && std::holds_alternative<std::int64_t>(value)) {
    value = static_cast<double>(std::get<std::int64_t>(value));
  }
  const bool ok = (f.type == CardType::kInt && std::holds_alternative<std::int64_t>(value)) ||
                  (f.type == CardType::kFloat && std::holds_alternative<double>(value)) ||
                  (f.type == CardType::kBool && std::holds_alternative<bool>(value)) ||
                  (f.type == CardType::kString && std::holds_alternative<std::string>(value));
  PHASEGEN_CHECK(ok, "run card [", name_, "]: '", key, "' expects ", type_name(f.type));
  values_[key] = std::move(value);
}

void CardSection::set_text(const std::string& key, const std::string& text, const std::string& flag) {
  switch (field(key).type) {
    case CardType::kInt:
      if (const auto v = to_int(text)) return set(key, *v);
      break;
    case CardType::kFloat:
      if (const auto v = to_double(text)) return set(key, *v);
      break;
    case CardType::kBool:
      if (text == "true" || text == "false") return set(key, text == "true");
      break;
    case CardType::kString: return set(key, text);
  }
  throw Error(detail::concat(flag, ": expected ", type_name(field(key).type), ", but got '", text, "'"));
}

bool CardSection::has(const std::string& key) const { return values_.count(key) > 0; }

void CardSection::erase(const std::string& key) {
  field(key);
  values_.erase(key);
}

const CardValue& CardSection::value(const std::string& key) const {
  field(key);
  auto it = values_.find(key);
  PHASEGEN_CHECK(it != values_.end(), "run card [", name_, "]: '", key, "' is not set");
  return it->second;
}

std::int64_t CardSection::get_int(const std::string& key) const { return std::get<std::int64_t>(value(key)); }
double CardSection::get_double(const std::string& key) const { return std::get<double>(value(key)); }
bool CardSection::get_bool(const std::string& key) const { return std::get<bool>(value(key)); }
std::string CardSection::get_string(const std::string& key) const { return std::get<std::string>(value(key)); }

std::string CardSection::to_toml() const {
  std::ostringstream out;
  out << "[" << name_ << "]\n";
  for (const auto& f : schema_) {
    auto it = values_.find(f.key);
    if (it == values_.end()) continue;
    out << f.key << " = ";
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            out << toml::value<std::string>(v);
          } else if constexpr (std::is_same_v<T, bool>) {
            out << (v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, double>) {
            out << exact_double(v);
          } else {
            out << v;
          }
        },
        it->second);
    out << '\n';
  }
  return out.str();
}

}  // namespace phasegen
