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
  try {
    phasegen::EventSet data = phasegen::read_events(argv[2]);
    phasegen::Model model(phasegen::ModelSpec::from_card(card), data);
    phasegen::Trainer(model, phasegen::TrainOptions::from_card(card).data(argv[2]).checkpoint(argv[4])).run(data.momenta);
    at::Tensor events = model.sample(2000, phasegen::SampleOptions().seed(3)).events;
    phasegen::Distances d = phasegen::distances(phasegen::energies(phasegen::read_events(argv[3]).momenta).select(1, 0),
                                                phasegen::energies(events).select(1, 0), 20);

    std::cout << model.description() << "\n"
              << "sampled " << events.size(0) << " events, worst conservation error "
              << phasegen::conservation_violation(events, model.sqrt_s()).max().item<double>() << "\n"
              << "E_1: KS " << d.ks.statistic << " (p " << d.ks.p_value << ")\n";
    phasegen::Model again = phasegen::Model::load(argv[4]);
    std::cout << "reloaded: " << again.description() << "\n";
  } catch (const phasegen::Error& e) {
    std::cerr << "train_and_sample: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
