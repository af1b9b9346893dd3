// core/: errors and number parsing, enum names, random streams.
#include "phasegen/core/error.hpp"

#include <set>
#include <string>

#include "phasegen/core/names.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/models/ode.hpp"
#include "test_util.hpp"

namespace phasegen {
namespace {

TEST(Core, NumbersAreWholeTextsOnly) {
  EXPECT_EQ(to_int("42"), 42);
  EXPECT_EQ(to_int("-7"), -7);
  EXPECT_EQ(to_double("0.15"), 0.15);
  EXPECT_EQ(to_double("1e-3"), 1e-3);
  for (const char* bad : {"", "12x", "1.5", "99999999999999999999"}) EXPECT_FALSE(to_int(bad).has_value()) << bad;
  for (const char* bad : {"", "0.1.2", "inf", "nan", "1e999", "3 GeV"}) EXPECT_FALSE(to_double(bad).has_value()) << bad;
}

TEST(Core, BugsAreInternalErrorsNotUserErrors) {
  try {
    PHASEGEN_ASSERT(1 + 1 == 3, "arithmetic");
    FAIL() << "no throw";
  } catch (const Error&) {
    FAIL() << "a bug reported as a user error";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("1 + 1 == 3 does not hold: arithmetic"), std::string::npos) << e.what();
  }
}

TEST(Core, NameTablesSpellEveryValueOnceAndNameTheKeyOfABadOne) {
  for (OdeSolver s : {OdeSolver::kEuler, OdeSolver::kHeun, OdeSolver::kRk4}) {
    EXPECT_EQ(kOdeSolverNames.parse(kOdeSolverNames.name(s)), s);
  }
  EXPECT_EQ(kOdeSolverNames.choices(), "euler, heun or rk4");
  EXPECT_ERROR_CONTAINS(kOdeSolverNames.parse("dopri"), "solver: unknown ODE solver 'dopri': expected euler, heun or rk4");
}

TEST(Core, StreamsOfDifferentPurposesOrIndicesDiffer) {
  std::set<std::uint64_t> seeds;
  for (Stream purpose : {Stream::kTrainSplit, Stream::kTrainEpoch, Stream::kTrainStep, Stream::kTrainValidation,
                         Stream::kTrainStepPart, Stream::kGaussianFit, Stream::kSamplePart, Stream::kSampleShard,
                         Stream::kEvalFlat}) {
    for (std::uint64_t index = 0; index < 50; ++index) seeds.insert(stream_seed(1, purpose, index));
  }
  EXPECT_EQ(seeds.size(), 9u * 50u);
  EXPECT_EQ(seeds.count(1), 0u);  // none is the raw seed
  EXPECT_EQ(stream_seed(7, Stream::kTrainStep, 3), stream_seed(7, Stream::kTrainStep, 3));
  at::Generator a = stream_generator(7, Stream::kTrainStep, 3), b = stream_generator(7, Stream::kTrainStep, 3);
  EXPECT_TRUE(at::equal(at::rand({5}, a), at::rand({5}, b)));
}

}  // namespace
}  // namespace phasegen
