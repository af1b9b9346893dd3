// phasegen: generative models confined exactly to massless N-body phase space. One include for
// the whole library; the headers below follow the pipeline (docs/ARCHITECTURE.md).
//
//   phasegen::EventSet data = phasegen::read_events("data/muon-train.pt");
//   phasegen::Model model(phasegen::ModelSpec::from_card("cards/muon-langevin-cpu.toml"), data);
//   phasegen::Trainer(model, phasegen::TrainOptions::from_card("cards/muon-langevin-cpu.toml")).run(data.momenta);
//   at::Tensor events = model.sample(20000, phasegen::SampleOptions().seed(3)).events;
#pragma once

#include "phasegen/core/error.hpp"
#include "phasegen/core/names.hpp"
#include "phasegen/core/parallel.hpp"
#include "phasegen/core/random.hpp"
#include "phasegen/core/runtime.hpp"
#include "phasegen/eval/evaluate.hpp"
#include "phasegen/eval/stats.hpp"
#include "phasegen/eval/weights.hpp"
#include "phasegen/io/card.hpp"
#include "phasegen/io/event_io.hpp"
#include "phasegen/io/json.hpp"
#include "phasegen/models/families.hpp"
#include "phasegen/models/model.hpp"
#include "phasegen/models/spec.hpp"
#include "phasegen/models/weighted.hpp"
#include "phasegen/physics/gaussian.hpp"
#include "phasegen/physics/observables.hpp"
#include "phasegen/physics/phasespace.hpp"
#include "phasegen/physics/targets.hpp"
#include "phasegen/training/checkpoint.hpp"
#include "phasegen/training/distributed.hpp"
#include "phasegen/training/train.hpp"
#include "phasegen/training/workers.hpp"
#include "phasegen/version.hpp"
