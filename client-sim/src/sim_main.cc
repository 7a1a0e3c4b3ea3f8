// letterbox-sim <mode> [options]: the simulator's entry point.
//   scenario  correctness run (client-sim/src/sim/scenario.cc)
//   load, ceiling, hostile  benchmarks and abuse (client-sim/sim/, if built)
// Each mode gets argc - 1, argv + 1, so its argv[0] is the mode name.
#include <cstring>
#include <iostream>
#include <string_view>

#include "letterbox/crypto/init.h"
#include "sim/scenario.h"

#if defined(LETTERBOX_HAVE_SIM_MODES)
#include "letterbox/sim/modes.h"
#endif

namespace {

constexpr std::string_view kUsage =
    "usage: letterbox-sim <mode> [options]\n"
    "modes:\n"
    "  scenario   users register, exchange messages and reports; verifies delivery\n"
    "  load       throughput and latency against a server\n"
    "  ceiling    transport ceilings (no-op RPCs) for the same run\n"
    "  hostile    malformed and abusive requests\n"
    "`letterbox-sim <mode> --help` lists a mode's options.\n";

#if !defined(LETTERBOX_HAVE_SIM_MODES)
int NotBuilt(std::string_view mode) {
  std::cerr << "letterbox-sim: mode not built: " << mode << "\n";
  return 2;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  if (!letterbox::crypto::Initialize().ok()) {
    std::cerr << "letterbox-sim: libsodium failed to initialise\n";
    return 1;
  }
  const std::string_view mode = argv[1];
  if (mode == "scenario") return letterbox::sim::RunScenario(argc - 1, argv + 1);
  if (mode == "load" || mode == "ceiling" || mode == "hostile") {
#if defined(LETTERBOX_HAVE_SIM_MODES)
    if (mode == "load") return letterbox::sim::RunLoad(argc - 1, argv + 1);
    if (mode == "ceiling") return letterbox::sim::RunCeiling(argc - 1, argv + 1);
    return letterbox::sim::RunHostile(argc - 1, argv + 1);
#else
    return NotBuilt(mode);
#endif
  }
  std::cerr << "letterbox-sim: unknown mode: " << mode << "\n" << kUsage;
  return 2;
}
