// File: letterbox/sim/modes.h
//
// The simulator's benchmark and abuse modes, dispatched by letterbox-sim
// (client-sim/src/sim_main.cc). docs/load-testing.md describes every option
// and output format.
//
//   letterbox-sim load --server 127.0.0.1:7443 --inflight 64 --duration 10s --with-ceiling
//   letterbox-sim ceiling --server 127.0.0.1:7443
//   letterbox-sim hostile --server 127.0.0.1:7443 --json hostile.json
//
// Each function parses its own options from argv (argv[0] is the mode name),
// runs to completion on the calling thread (starting and joining its own
// helper threads) and returns the process exit code. crypto::Initialize()
// must have succeeded first. Not reentrant: run one mode per process.
#pragma once

namespace letterbox::sim {

// Throughput and latency of a message mix (closed or open loop), optionally
// preceded by the transport ceiling. Returns 0 when the run completed and at
// least one operation succeeded, 1 on a setup or run failure, 2 on bad
// options.
int RunLoad(int argc, char** argv);

// The transport ceiling alone: DiagnosticsService.Noop (unary) and NoopStream
// (server streaming) with the load mode's engine. Returns 0, 1 or 2 as
// RunLoad.
int RunCeiling(int argc, char** argv);

// Attacks with documented expected statuses; prints one row per attack.
// Returns 0 when every observed status equals the expected one, 1 when any
// row differs or setup failed, 2 on bad options.
int RunHostile(int argc, char** argv);

}  // namespace letterbox::sim
