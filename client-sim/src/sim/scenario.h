// File: sim/scenario.h (private to letterbox-sim)
//
// `letterbox-sim scenario`: many users with 1–3 devices each register,
// upload keys, exchange end-to-end encrypted messages in 1:1 and small group
// conversations, report some of what they received, and the run verifies
// that every message reached every intended device exactly once, intact.
// docs/client.md describes the options and the summary.
//
//   return letterbox::sim::RunScenario(argc - 1, argv + 1);
#pragma once

namespace letterbox::sim {

// Parses the scenario options from argv (argv[0] is the mode name) and runs
// it. Returns 0 when every check passed, 1 on a violation or error, 2 on
// bad options.
int RunScenario(int argc, char** argv);

}  // namespace letterbox::sim
