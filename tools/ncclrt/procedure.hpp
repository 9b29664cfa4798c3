// How `ncclrt bench` times one size, step for step as nccl-tests 2.19.6 does (src/common.cu:
// TimeTest, BenchTime, startColl, completeColl), written against an interface so that the order
// of the steps, what a graph holds and what the clock covers are checked without a GPU
// (tests/unit/tool_test.cpp). bench.cpp implements the steps with CUDA and NCCL.
#pragma once

#include <cstddef>
#include <vector>

namespace ncclrt_tool {

struct TimingPlan {
  int iters = 20;          // -n: calls timed (eager) or captured into the graph
  int graph_launches = 0;  // -G: launches of the graph (0: eager)
  int graph_warmup = 0;    // --graph-warmup: untimed launches first (nccl-tests: none)
  bool check = true;       // -c
};

// The sizes nccl-tests warms up before its sweep (TimeTest): from -b doubling up to -e, whatever
// the step of the sweep itself.
inline std::vector<std::size_t> warmup_sizes(std::size_t lo, std::size_t hi) {
  std::vector<std::size_t> v;
  for (std::size_t s = lo; s != 0 && s <= hi; s *= 2) {
    v.push_back(s);
    if (s > hi / 2) break;
  }
  return v;
}

// `steps` provides, for one size and one half (out-of-place or in-place) on the ranks of one
// thread:
//   prepare()        write the check's inputs (nccl-tests' initData, before the timing too)
//   call(i)          issue call i (its buffers shifted for i, rotation.hpp) on every rank
//   wait()           wait for every rank's stream (nccl-tests' testStreamSynchronize)
//   barrier()        meet the other threads
//   begin_capture()  end_capture(): capture into a graph, then instantiate it
//   launch()         launch the instantiated graph; drop_graph(): destroy it
//   start_clock()    stop_clock(): host seconds since start_clock
//   verify()         count the wrong elements of the check's outputs
// Returns the seconds per call on this thread and adds the wrong elements to `wrong`.
template <class Steps>
double time_one_size(Steps& steps, const TimingPlan& p, long& wrong) {
  const bool graph = p.graph_launches > 0;
  // BenchTime: the inputs, one untimed call of iteration 0 and a wait ("Sync"), a barrier.
  if (p.check) steps.prepare();
  steps.call(0);
  steps.wait();
  steps.barrier();
  double seconds = 0;
  if (!graph) {
    // The clock runs from before the first call to the end of the wait after the last.
    steps.start_clock();
    for (int i = 0; i < p.iters; ++i) steps.call(i);
    steps.wait();
    seconds = steps.stop_clock() / p.iters;
  } else {
    // The graph holds the -n calls and nothing else (no event, no wait). nccl-tests times its
    // first launch, which uploads the graph to the GPU; --graph-warmup launches it untimed first.
    steps.begin_capture();
    for (int i = 0; i < p.iters; ++i) steps.call(i);
    steps.end_capture();
    for (int w = 0; w < p.graph_warmup; ++w) steps.launch();
    if (p.graph_warmup > 0) steps.wait();
    steps.barrier();
    steps.start_clock();
    for (int l = 0; l < p.graph_launches; ++l) steps.launch();
    steps.wait();
    seconds = steps.stop_clock() / (double(p.iters) * p.graph_launches);
    steps.drop_graph();
  }
  if (p.check) {
    // As nccl-tests: fresh inputs, call 0 alone (in a graph of its own under -G), the outputs.
    steps.barrier();
    steps.prepare();
    if (graph) {
      steps.begin_capture();
      steps.call(0);
      steps.end_capture();
      steps.launch();
    } else {
      steps.call(0);
    }
    steps.wait();
    if (graph) steps.drop_graph();
    wrong += steps.verify();
  }
  return seconds;
}

// nccl-tests' -a: how the threads' times become one (0: thread 0's, 1: the mean, 2: the least,
// 3: the most).
inline double combine_threads(const std::vector<double>& seconds, int average) {
  if (seconds.empty()) return 0;
  double out = seconds.front();
  for (std::size_t i = 1; i < seconds.size(); ++i) {
    const double s = seconds[i];
    if (average == 1) out += s;
    if (average == 2 && s < out) out = s;
    if (average == 3 && s > out) out = s;
  }
  return average == 1 ? out / double(seconds.size()) : out;
}

}  // namespace ncclrt_tool
