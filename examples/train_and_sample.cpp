// The library in five lines: data -> model from a card -> train -> sample -> evaluate. Built by
// CMake and run as a test (on a small card and short runs; the README shows the same lines).
//
//   usage: train_and_sample CARD TRAIN_EVENTS TEST_EVENTS CHECKPOINT
#include <iostream>

#include "phasegen/phasegen.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: train_and_sample CARD TRAIN_EVENTS TEST_EVENTS CHECKPOINT\n";
    return 2;
  }
  const std::string card = argv[1];
  // A short classifier test: the example runs in the test suite.
  const auto quick = phasegen::EvalOptions().classifier_options(phasegen::ClassifierOptions().steps(200));
  try {
    phasegen::EventSet data = phasegen::read_events(argv[2]), test = phasegen::read_events(argv[3]);
    phasegen::Model model(phasegen::ModelSpec::from_card(card), data);
    phasegen::Trainer(model, phasegen::TrainOptions::from_card(card).data(argv[2]).checkpoint(argv[4])).run(data.momenta);
    at::Tensor events = model.sample(2000, phasegen::SampleOptions().seed(3)).events;
    phasegen::EvalResult r = phasegen::evaluate(test.momenta, test.sqrt_s, {{"example", events}}, quick);

    std::cout << model.description() << "\n"
              << "sampled " << events.size(0) << " events, worst conservation error "
              << r.sets[0].conservation.worst_momentum << "\n"
              << phasegen::eval_table(r, r.sets[0]) << phasegen::headline(r.sets[0]) << "\n";
    phasegen::Model again = phasegen::Model::load(argv[4]);
    std::cout << "reloaded: " << again.description() << "\n";
  } catch (const phasegen::Error& e) {
    std::cerr << "train_and_sample: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
