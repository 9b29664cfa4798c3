// One rank of a multi-process job started by scripts/launch_local.sh (or torchrun, mpirun,
// srun): `every_op` checks every operation's numbers on this rank, eager and graph-captured;
// `drop` makes the last rank leave without joining, and the others must get a TimeoutError.
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "../gpu/gpu_support.hpp"

int main(int argc, char** argv) {
  using namespace ncclrt;
  const std::string mode = argc > 1 ? argv[1] : "every_op";
  try {
    auto lib = Library::open();
    const LaunchInfo info = launch_info_from_environment();
    if (mode == "drop") {
      if (info.rank == info.size - 1) {
        std::printf("rank %d: leaving without joining\n", info.rank);
        return 0;
      }
      Config c;
      c.timeout = std::chrono::seconds(5);
      try {
        (void)Communicator::from_environment(lib, c);
        std::printf("rank %d: init succeeded without the last rank\n", info.rank);
        return 1;
      } catch (const TimeoutError& e) {
        std::printf("rank %d: TimeoutError as expected: %s\n", info.rank, e.what());
        return 0;
      }
    }
    std::vector<Communicator> comms;
    comms.push_back(Communicator::from_environment(lib));
    int failures = 0;
    for (const auto& c : gpu_test::all_op_cases()) {
      for (DataType t : {DataType::kFloat32, DataType::kBfloat16, DataType::kInt32}) {
        for (std::size_t count : {std::size_t{1}, std::size_t{4099}, std::size_t{1} << 20}) {
          for (bool graph : {false, true}) {
            const std::string e = gpu_test::run_case(c, comms, t, count, graph);
            if (!e.empty()) {
              std::printf("rank %d: %s\n", info.rank, e.c_str());
              ++failures;
            }
          }
        }
      }
    }
    std::printf("rank %d of %d: %d failures\n", info.rank, info.size, failures);
    comms[0].finalize();
    comms[0].destroy();
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
}
