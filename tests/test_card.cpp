#include "phasegen/io/card.hpp"

#include "test_util.hpp"

namespace phasegen {
namespace {

CardSection schema() {
  return CardSection("data", {{"target", CardType::kString},
                              {"events", CardType::kInt},
                              {"msq", CardType::kFloat},
                              {"symmetrize", CardType::kBool}});
}

TEST(RunCard, ReadsTypedValuesAndLetsLaterSettingsOverride) {
  CardSection card = schema();
  card.set("events", std::int64_t{10});
  card.load_string("# comment\n[data]\ntarget = \"qqg\"\nmsq = 1\nsymmetrize = true\n\n[train]\nlr = 1e-3\n", "c.toml");
  EXPECT_EQ(card.get_string("target"), "qqg");
  EXPECT_EQ(card.get_int("events"), 10);      // default kept
  EXPECT_DOUBLE_EQ(card.get_double("msq"), 1.0);  // an integer is a valid float
  EXPECT_TRUE(card.get_bool("symmetrize"));
  card.set("events", std::int64_t{500});       // a flag
  EXPECT_EQ(card.get_int("events"), 500);
  EXPECT_EQ(card.source(), "c.toml");
}

TEST(RunCard, ResolvedCardReadsBackToTheSameValues) {
  CardSection card = schema();
  card.load_string("[data]\ntarget = \"a \\\"quoted\\\" name\"\nevents = 7\nmsq = 1e-4\nsymmetrize = false\n", "c");
  const std::string text = card.to_toml();
  CardSection again = schema();
  again.load_string(text, "resolved");
  EXPECT_EQ(again.get_string("target"), "a \"quoted\" name");
  EXPECT_EQ(again.get_int("events"), 7);
  EXPECT_EQ(again.get_double("msq"), 1e-4);
  EXPECT_FALSE(again.get_bool("symmetrize"));
  EXPECT_EQ(text.rfind("[data]\n", 0), 0u);
}

TEST(RunCard, FlagTextIsParsedByTheKeysType) {
  CardSection card = schema();
  card.set_text("events", "250", "--events");
  card.set_text("msq", "1e-4", "--msq");
  card.set_text("symmetrize", "true", "--symmetrize");
  card.set_text("target", "aps", "--target");
  EXPECT_EQ(card.get_int("events"), 250);
  EXPECT_EQ(card.get_double("msq"), 1e-4);
  EXPECT_TRUE(card.get_bool("symmetrize"));
  EXPECT_EQ(card.get_string("target"), "aps");
  EXPECT_ERROR_CONTAINS(card.set_text("events", "2.5", "--events"), "--events: expected an integer, but got '2.5'");
  EXPECT_ERROR_CONTAINS(card.set_text("msq", "small", "--msq"), "--msq: expected a number, but got 'small'");
  EXPECT_ERROR_CONTAINS(card.set_text("symmetrize", "yes", "--symmetrize"), "expected true or false");
}

TEST(RunCard, UnknownKeysWrongTypesAndSyntaxErrorsNameTheLine) {
  CardSection card = schema();
  EXPECT_ERROR_CONTAINS(card.load_string("[data]\ntarget = \"muon\"\nevnts = 5\n", "bad.toml"),
                        "bad.toml:3: unknown key 'evnts' in [data] (known keys: target, events, msq, symmetrize)");
  EXPECT_ERROR_CONTAINS(card.load_string("[data]\n\nevents = \"many\"\n", "bad.toml"),
                        "bad.toml:3: key 'events' in [data] expects an integer, but got a string");
  EXPECT_ERROR_CONTAINS(card.load_string("[data]\nevents = 1.5\n", "bad.toml"),
                        "bad.toml:2: key 'events' in [data] expects an integer, but got a floating-point number");
  EXPECT_ERROR_CONTAINS(card.load_string("[data]\nevents = = 3\n", "bad.toml"), "bad.toml:2: malformed run card");
  EXPECT_ERROR_CONTAINS(card.load_string("[model]\nx = 1\n", "bad.toml"), "bad.toml: the run card has no [data] table");
  EXPECT_ERROR_CONTAINS(card.load_string("data = 3\n", "bad.toml"), "expected [data] to be a table");
  EXPECT_ERROR_CONTAINS(card.load("/nonexistent/card.toml"), "cannot read run card '/nonexistent/card.toml'");
  EXPECT_ERROR_CONTAINS(card.set("events", std::string("x")), "'events' expects an integer");
  EXPECT_ERROR_CONTAINS(card.set("nothing", std::int64_t{1}), "no setting 'nothing'");
  EXPECT_ERROR_CONTAINS(card.get_string("target"), "'target' is not set");
}

}  // namespace
}  // namespace phasegen
